package redis

import (
	"context"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// tracedClient puts every command (and every pipeline) in a client span
// with the stable database semantic conventions: db.system.name redis and
// db.operation.name, the command ("GET", "EVALSHA"; "PIPELINE" for
// several). Keys and arguments are never recorded: they hold token and
// session hashes. Only commands made inside a kept (recording) trace
// get a span: the prober's pings start none. A client-side cache hit is marked
// (authd.redis.cache_hit). rueidis's own rueidisotel does the same but is
// not served to this project.
type tracedClient struct {
	rueidis.Client
	tracer trace.Tracer
}

func newTracedClient(rc rueidis.Client, tp trace.TracerProvider) rueidis.Client {
	return &tracedClient{Client: rc, tracer: tp.Tracer("github.com/authd/authd/storage/redis")}
}

var cacheHit = attribute.Key("authd.redis.cache_hit")

func (c *tracedClient) start(ctx context.Context, op string, n int) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.DBOperationName(op)}
	if n > 1 {
		attrs = append(attrs, semconv.DBOperationBatchSize(n))
	}
	return c.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(span trace.Span, results ...rueidis.RedisResult) {
	for _, r := range results {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "command failed")
			break
		}
	}
	if len(results) == 1 && results[0].IsCacheHit() {
		span.SetAttributes(cacheHit.Bool(true))
	}
	span.End()
}

func nameOf(cmds []string) string {
	if len(cmds) == 0 {
		return "COMMAND"
	}
	return cmds[0]
}

func (c *tracedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.Do(ctx, cmd)
	}
	ctx, span := c.start(ctx, nameOf(cmd.Commands()), 1)
	r := c.Client.Do(ctx, cmd)
	end(span, r)
	return r
}

func (c *tracedClient) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.DoMulti(ctx, multi...)
	}
	op := "PIPELINE"
	if len(multi) == 1 {
		op = nameOf(multi[0].Commands())
	}
	ctx, span := c.start(ctx, op, len(multi))
	rs := c.Client.DoMulti(ctx, multi...)
	end(span, rs...)
	return rs
}

func (c *tracedClient) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.DoCache(ctx, cmd, ttl)
	}
	ctx, span := c.start(ctx, nameOf(cmd.Commands()), 1)
	r := c.Client.DoCache(ctx, cmd, ttl)
	end(span, r)
	return r
}

func (c *tracedClient) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.DoMultiCache(ctx, multi...)
	}
	op := "PIPELINE"
	if len(multi) == 1 {
		op = nameOf(multi[0].Cmd.Commands())
	}
	ctx, span := c.start(ctx, op, len(multi))
	rs := c.Client.DoMultiCache(ctx, multi...)
	end(span, rs...)
	return rs
}
