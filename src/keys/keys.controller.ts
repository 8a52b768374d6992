import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../common/auth.js';
import { ApiJsonBody, JsonSchemaPipe } from '../common/json-schema.js';
import { KeyUsageService } from './key-usage.service.js';
import { CREATE_KEY_SCHEMA, UPDATE_KEY_SCHEMA, type KeyFields } from './keys.schema.js';
import { KeysService } from './keys.service.js';

/** API keys managed at run time (admin keys only): each with a tenant, a role, limits and budgets. */
@ApiTags('admin')
@ApiBearerAuth()
@AdminOnly()
@Controller('admin/keys')
export class KeysController {
  constructor(
    private readonly keys: KeysService,
    private readonly usage: KeyUsageService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create a key: the answer shows the key once; only its SHA-256 digest is kept' })
  @ApiJsonBody(CREATE_KEY_SCHEMA)
  create(@Body(new JsonSchemaPipe<KeyFields>(CREATE_KEY_SCHEMA)) body: KeyFields) {
    return this.keys.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'Every managed key (never the key itself)' })
  async list() {
    return { keys: await this.keys.list() };
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.keys.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: "Change a key's name, tenant, role, limits, budgets, agents or models" })
  @ApiJsonBody(UPDATE_KEY_SCHEMA)
  update(
    @Param('id') id: string,
    @Body(new JsonSchemaPipe<Partial<KeyFields>>(UPDATE_KEY_SCHEMA)) body: Partial<KeyFields>,
  ) {
    return this.keys.update(id, body);
  }

  @Post(':id/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'A new secret for the key (shown once); the old one is refused from now on' })
  rotate(@Param('id') id: string) {
    return this.keys.rotate(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a key: refused on every instance within half a second' })
  async remove(@Param('id') id: string): Promise<void> {
    await this.keys.delete(id);
  }

  @Get(':id/usage')
  @ApiOperation({
    summary: "A key's calls, cost and savings, and its spend on today's and this month's budget counters",
  })
  usageOf(@Param('id') id: string) {
    return this.usage.of(id);
  }
}
