package registry

import (
	"context"
	"sync"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

// Memory is an in-memory registry: writable unless made read-only; the
// base of Env and File. Changes live in this process only.
type Memory struct {
	set      *set
	readOnly bool
	writeMu  sync.Mutex
	now      func() time.Time
}

// NewMemory returns a writable in-memory registry holding items.
func NewMemory(items ...integrations.Integration) *Memory {
	m := &Memory{set: newSet(), now: time.Now}
	for _, it := range items {
		m.set.items[it.ID] = it.Clone()
	}
	return m
}

func (m *Memory) List(ctx context.Context) ([]integrations.Integration, error) {
	return m.set.list(), nil
}

func (m *Memory) Get(ctx context.Context, id string) (integrations.Integration, error) {
	return m.set.find(id)
}

func (m *Memory) Create(ctx context.Context, it integrations.Integration) (integrations.Integration, error) {
	if m.readOnly {
		return integrations.Integration{}, ErrReadOnly
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if err := m.set.checkNew(it); err != nil {
		return integrations.Integration{}, err
	}
	m.set.put(it.ID, &it)
	return it.Clone(), nil
}

func (m *Memory) Update(ctx context.Context, id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	if m.readOnly {
		return integrations.Integration{}, ErrReadOnly
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	return m.updateLocked(id, fn)
}

func (m *Memory) updateLocked(id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	next, err := m.set.next(id, fn)
	if err != nil {
		return integrations.Integration{}, err
	}
	m.set.put(id, &next)
	return next.Clone(), nil
}

func (m *Memory) Delete(ctx context.Context, id string) error {
	if m.readOnly {
		return ErrReadOnly
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if _, ok := m.set.get(id); !ok {
		return notFound(id)
	}
	m.set.put(id, nil)
	return nil
}

// SetDisabled disables id in memory (in a read-only registry too).
func (m *Memory) SetDisabled(ctx context.Context, id, by, reason string) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if cur, ok := m.set.get(id); ok && !cur.Enabled {
		return nil // already disabled: a user's disable stays the user's
	}
	_, err := m.updateLocked(id, func(it integrations.Integration) (integrations.Integration, error) {
		it.SetEnabled(false, by, reason, m.now())
		return it, nil
	})
	return err
}

func (m *Memory) ReadOnly() bool { return m.readOnly }

func (m *Memory) Watch(ctx context.Context) <-chan []integrations.Integration {
	return m.set.watch(ctx)
}

func (m *Memory) Close() error {
	m.set.close()
	return nil
}
