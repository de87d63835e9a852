import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSender, WebhookSendError } from './webhook-sender';

describe('WebhookSender', () => {
  let server: Server;
  let base: string;
  const bodies: unknown[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        bodies.push({ path: request.url, type: request.headers['content-type'], body: JSON.parse(text) });
        const status = Number(request.url!.split('/')[1]);
        response.writeHead(status, status === 301 ? { location: `${base}/200/elsewhere` } : {}).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => (bodies.length = 0));

  it('POSTs the body as JSON', async () => {
    await new WebhookSender().post(`${base}/200/T0/secret`, { text: 'hello' });
    expect(bodies).toEqual([{ path: '/200/T0/secret', type: 'application/json', body: { text: 'hello' } }]);
  });

  it.each([
    [503, 'the endpoint answered 503', false],
    [429, 'the endpoint answered 429', false],
    [404, 'the endpoint answered 404; not sent again: check the webhook URL', true],
    [301, 'the endpoint answered 301; not sent again: check the webhook URL', true],
  ])('an answer %i: %s (permanent: %s), the URL not followed or told', async (status, message, permanent) => {
    const error = await new WebhookSender()
      .post(`${base}/${status}/T0/secret`, {})
      .catch((e: unknown) => e as WebhookSendError);
    expect(error).toBeInstanceOf(WebhookSendError);
    expect(error).toMatchObject({ message, permanent });
    expect(bodies).toHaveLength(1);
  });

  it('an endpoint that cannot be reached: the kind of failure, not the URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await new WebhookSender()
      .post(`http://127.0.0.1:${port}/secret`, {})
      .catch((e: unknown) => e as WebhookSendError);
    expect(error).toMatchObject({
      message: 'the endpoint could not be reached (ECONNREFUSED)',
      permanent: false,
    });
  });
});
