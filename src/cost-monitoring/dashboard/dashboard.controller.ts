import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import { Public } from '../../common/auth.js';
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE, dashboardHtml } from './dashboard.page.js';

const sha = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
// The inline script and style are allowed by their hashes; nothing else may run or load.
const CSP = [
  "default-src 'none'",
  `script-src ${sha(DASHBOARD_SCRIPT)}`,
  `style-src ${sha(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
const PAGE = dashboardHtml();

@ApiExcludeController()
@Public()
@Controller('dashboard')
export class DashboardController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', CSP)
  @Header('cache-control', 'no-store')
  page(): string {
    return PAGE;
  }
}
