import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Param, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../../common/auth.js';
import { AGENT_NAMES, isAgentName, type AgentName, type AgentSettingsMap } from './agent-settings.js';
import { AgentSettingsService } from './agent-settings.service.js';

/** An agent's partial settings: nested objects of numbers, strings and lists, checked by applyAgentSettings. */
const PATCH_ONE = {
  type: 'object',
  example: { anomaly_thresholds: { latency_ms: 2000 }, check_interval_seconds: 30 },
};
const PATCH_MANY = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(AGENT_NAMES.map((name) => [name, { type: 'object' }])),
  example: { portfolio_optimizer: { max_position_size: 0.25 } },
};
const AGENT_PARAM = { name: 'agent', enum: [...AGENT_NAMES] };

function agentOf(name: string): AgentName {
  if (!isAgentName(name)) {
    throw new BadRequestException(
      `agent must be one of ${AGENT_NAMES.join(', ')}, got "${name.slice(0, 64)}"`,
    );
  }
  return name;
}

/** Run-time agent settings (the seed's shape), kept in Redis so every instance applies a change at once. */
@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents/settings')
export class AgentSettingsController {
  constructor(private readonly settings: AgentSettingsService) {}

  @Get()
  @ApiOperation({ summary: "Every agent's settings in force (config/agents.yaml plus run-time changes)" })
  all(): Promise<AgentSettingsMap> {
    return this.settings.all();
  }

  @Get(':agent')
  @ApiOperation({ summary: "One agent's settings in force" })
  @ApiParam(AGENT_PARAM)
  one(@Param('agent') agent: string): Promise<AgentSettingsMap[AgentName]> {
    return this.settings.get(agentOf(agent));
  }

  @Patch()
  @HttpCode(200)
  @AdminOnly()
  @ApiOperation({ summary: 'Change settings of several agents at once; every problem is named in one 400' })
  @ApiBody({ schema: PATCH_MANY })
  patchMany(@Body() body: unknown): Promise<Partial<AgentSettingsMap>> {
    return this.settings.update(body);
  }

  @Patch(':agent')
  @HttpCode(200)
  @AdminOnly()
  @ApiOperation({ summary: "Change some of one agent's settings (partial, nested)" })
  @ApiParam(AGENT_PARAM)
  @ApiBody({ schema: PATCH_ONE })
  async patchOne(@Param('agent') agent: string, @Body() body: unknown): Promise<AgentSettingsMap[AgentName]> {
    const name = agentOf(agent);
    const changed = await this.settings.update({ [name]: body });
    return changed[name] as AgentSettingsMap[AgentName];
  }

  @Delete(':agent')
  @HttpCode(200)
  @AdminOnly()
  @ApiOperation({ summary: 'Forget the run-time changes of one agent: config/agents.yaml applies again' })
  @ApiParam(AGENT_PARAM)
  reset(@Param('agent') agent: string): Promise<AgentSettingsMap[AgentName]> {
    return this.settings.reset(agentOf(agent));
  }
}
