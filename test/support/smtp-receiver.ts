import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  headers: Map<string, unknown>;
  at: number;
}

/**
 * A local SMTP server (smtp-server) that accepts, parses (mailparser) and records every message; `reply`
 * may refuse a message with an SMTP code (e.g. 451 to make the sender retry, 550 to refuse for good).
 */
export async function startSmtpReceiver(reply: (n: number) => number = () => 250) {
  const received: ReceivedMail[] = [];
  let attempts = 0;
  const server = new SMTPServer({
    authOptional: true,
    // Plain text on localhost: the credentials of SMTP_URL are accepted without TLS, and any login works.
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const code = reply(++attempts);
      simpleParser(stream)
        .then((mail) => {
          if (code >= 400) {
            const err = Object.assign(new Error(`refused with ${code}`), { responseCode: code });
            callback(err);
            return;
          }
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: mail.subject ?? '',
            text: mail.text ?? '',
            headers: mail.headers,
            at: Date.now(),
          });
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    get attempts() {
      return attempts;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
