import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DetectAnomaliesDto, type DetectAnomaliesAnswer } from './anomaly-detector.dto.js';
import { AnomalyDetectorService } from './anomaly-detector.service.js';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/anomaly-detector')
export class AnomalyDetectorController {
  constructor(private readonly detector: AnomalyDetectorService) {}

  @Post('detect')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Rule-based anomalies of a bot's telemetry; a model may explain them (THRESHOLD sampling on the score)",
  })
  detect(@Body() body: DetectAnomaliesDto): Promise<DetectAnomaliesAnswer> {
    return this.detector.detect(body);
  }
}
