package store

import (
	"context"
	"io"
	"strings"
)

// WithPrefix returns b seen through a key prefix: every key given to Put,
// Stat, Get, List and Delete gets prefix in front, and List hands keys back
// without it. With an empty prefix it returns b itself. The exporter's key
// prefix (HITEXPORT_KEY_PREFIX) is applied here once, instead of by every
// caller that makes or reads a key.
func WithPrefix(b Bucket, prefix string) Bucket {
	if prefix == "" {
		return b
	}
	return &prefixed{b: b, prefix: prefix}
}

type prefixed struct {
	b      Bucket
	prefix string
}

func (p *prefixed) Name() string                             { return p.b.Name() }
func (p *prefixed) Exists(ctx context.Context) (bool, error) { return p.b.Exists(ctx) }

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	return p.b.Put(ctx, p.prefix+key, r, size, opts)
}

func (p *prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := p.b.Stat(ctx, p.prefix+key)
	info.Key = strings.TrimPrefix(info.Key, p.prefix)
	return info, err
}

func (p *prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return p.b.Get(ctx, p.prefix+key)
}

func (p *prefixed) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return p.b.List(ctx, p.prefix+prefix, func(o ObjectInfo) error {
		o.Key = strings.TrimPrefix(o.Key, p.prefix)
		return fn(o)
	})
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	return p.b.Delete(ctx, p.prefix+key)
}
