/**
 * The hub-wide feedback queue over HTTPS (c2d-semantics.md §4.3, §5.3):
 * GET locks and returns the next batch (200, body = JSON array of records,
 * `ETag` = quoted lock token) or 204; DELETE completes (rejects with the
 * `reject` flag); POST .../abandon abandons. All need ServiceConnect.
 */
import { FEEDBACK_CONTENT_TYPE } from '../../common/message';
import { HTTP_HEADERS, formatEtag, formatHttpTime } from '../../common/codec/http';
import { hasRejectFlag } from '../../common/codec/http-paths';
import { authenticateService } from './auth';
import { noContent, type RequestContext, type Reply, type RouteTable } from './context';

const FEEDBACK_PATH = '/messages/serviceBound/feedback';

async function receive(ctx: RequestContext<{ kind: 'feedback' }>): Promise<Reply> {
  await authenticateService(ctx, 'ServiceConnect', FEEDBACK_PATH);
  const batch = await ctx.hub.receiveFeedback();
  if (!batch) return noContent();
  return {
    status: 200,
    headers: {
      [HTTP_HEADERS.httpContentType]: `${FEEDBACK_CONTENT_TYPE}; charset=utf-8`,
      [HTTP_HEADERS.etag]: formatEtag(batch.lockToken),
      [HTTP_HEADERS.enqueuedTime]: formatHttpTime(batch.enqueuedTimeUtc),
      [HTTP_HEADERS.deliveryCount]: String(batch.deliveryCount),
      [HTTP_HEADERS.userId]: batch.userId,
    },
    body: JSON.stringify(batch.records),
  };
}

async function completeOrReject(ctx: RequestContext<{ kind: 'feedbackLock'; lockToken: string }>): Promise<Reply> {
  await authenticateService(ctx, 'ServiceConnect', FEEDBACK_PATH);
  const { lockToken } = ctx.route;
  if (hasRejectFlag(ctx.query)) await ctx.hub.rejectFeedback(lockToken);
  else await ctx.hub.completeFeedback(lockToken);
  return noContent();
}

async function abandon(ctx: RequestContext<{ kind: 'feedbackAbandon'; lockToken: string }>): Promise<Reply> {
  await authenticateService(ctx, 'ServiceConnect', FEEDBACK_PATH);
  await ctx.hub.abandonFeedback(ctx.route.lockToken);
  return noContent();
}

export const feedbackRoutes: RouteTable = {
  feedback: { GET: receive },
  feedbackLock: { DELETE: completeOrReject },
  feedbackAbandon: { POST: abandon },
};
