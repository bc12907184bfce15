package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory Bucket for fast unit tests. It honours the same
// conditions as the S3 implementation.
type Memory struct {
	mu      sync.Mutex
	name    string
	objects map[string]memObject
	// FailPuts, when positive, makes that many next Puts fail with a
	// retryable error (for tests of the retry loop).
	FailPuts int
}

type memObject struct {
	data []byte
	info ObjectInfo
}

// NewMemory returns an empty in-memory bucket.
func NewMemory(name string) *Memory {
	return &Memory{name: name, objects: map[string]memObject{}}
}

func (m *Memory) Name() string { return m.name }

func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("put %s: read %d bytes, size said %d", key, len(data), size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.FailPuts > 0 {
		m.FailPuts--
		return fmt.Errorf("put %s: injected failure", key)
	}
	old, exists := m.objects[key]
	if opts.IfNoneMatch && exists {
		return fmt.Errorf("put %s: %w", key, ErrPreconditionFailed)
	}
	if opts.IfMatch != "" && (!exists || old.info.ETag != opts.IfMatch) {
		return fmt.Errorf("put %s: %w", key, ErrPreconditionFailed)
	}
	sum := md5.Sum(data)
	meta := lowerKeys(opts.Metadata)
	m.objects[key] = memObject{data: data, info: ObjectInfo{
		Key: key, Size: size, ETag: hex.EncodeToString(sum[:]), LastModified: time.Now(),
		ContentType: opts.ContentType, Metadata: meta,
	}}
	return nil
}

func (m *Memory) Stat(_ context.Context, key string) (ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return o.info, nil
}

func (m *Memory) Get(_ context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (m *Memory) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	m.mu.Lock()
	var infos []ObjectInfo
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			info := o.info
			info.Metadata = nil
			info.ContentType = ""
			infos = append(infos, info)
		}
	}
	m.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

func (m *Memory) Exists(context.Context) (bool, error) { return true, nil }

// Keys lists every key, sorted (for tests).
func (m *Memory) Keys() []string {
	var keys []string
	_ = m.List(context.Background(), "", func(o ObjectInfo) error { keys = append(keys, o.Key); return nil })
	return keys
}
