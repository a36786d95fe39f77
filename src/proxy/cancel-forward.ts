import { encodeCancelRequest } from '../protocol/index.js';
import type { CancelTarget } from './cancel-map.js';
import { connectUpstream, type UpstreamTarget } from './upstream-connect.js';

/** forwardCancel sends a CancelRequest with the backend's real key over the upstream transport pgseal uses (TLS unless disabled). */
export async function forwardCancel(upstream: UpstreamTarget, target: CancelTarget): Promise<void> {
  const up = await connectUpstream(upstream);
  up.reader.detach();
  await new Promise<void>((resolve) => {
    up.socket.on('error', () => resolve());
    up.socket.on('close', () => resolve());
    up.socket.end(encodeCancelRequest(target.pid, target.secretKey));
    setTimeout(() => {
      up.socket.destroy();
      resolve();
    }, upstream.connectTimeoutMs).unref();
  });
}
