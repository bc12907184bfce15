// Package registry keeps the set of integrations and tells every replica of
// hitexport about changes within seconds. Three implementations:
//
//   - Env: one integration, "default", from the HITEXPORT_S3_*/FORMAT
//     settings; read-only.
//   - File: a YAML list of integrations, read-only, reloaded when the file
//     changes.
//   - Kafka: a compacted topic (key = integration id, value = versioned JSON
//     with sealed secrets, tombstone on delete); writable through the admin
//     API; every replica reads the whole topic and follows it.
//
// Memory is a writable in-memory registry (tests, single-process use).
//
// Every registry implements Registry. Integrations returned carry their
// secrets (the data plane needs them); their JSON form never does.
package registry

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"

	"github.com/hitexport/hitexport/integrations"
)

// Errors of the registries (wrapped; test with errors.Is).
var (
	ErrNotFound = errors.New("integration not found")
	ErrReadOnly = errors.New("the registry is read-only")
	ErrConflict = errors.New("conflict")
)

// ConflictError is a write refused because it would break uniqueness
// (Field: "name" or "id"). It wraps ErrConflict.
type ConflictError struct {
	Field   string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Registry is where integrations live.
type Registry interface {
	// List returns every integration, sorted by name.
	List(ctx context.Context) ([]integrations.Integration, error)
	// Get returns one integration, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (integrations.Integration, error)
	// Create stores a new, validated integration (its id made by
	// integrations.New). A duplicate name or id is a *ConflictError.
	Create(ctx context.Context, it integrations.Integration) (integrations.Integration, error)
	// Update applies fn to the current value of id and stores its result
	// (validated by fn, e.g. with Integration.Apply). Writes within one
	// process are serialised, so fn sees the latest value; a name taken by
	// another integration is a *ConflictError.
	Update(ctx context.Context, id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error)
	// Delete removes id (ErrNotFound when absent).
	Delete(ctx context.Context, id string) error
	// SetDisabled disables id on behalf of by (integrations.DisabledByAuto
	// for the auto-disable of the failure policy) with a reason; a no-op
	// when it is already disabled (a user's disable stays the user's).
	// Read-only registries keep it in memory on this replica (see their
	// docs).
	SetDisabled(ctx context.Context, id, by, reason string) error
	// ReadOnly reports whether Create, Update and Delete are refused
	// (with ErrReadOnly).
	ReadOnly() bool
	// Watch returns a channel that receives the full set (sorted by name)
	// now and after every change; a slow reader gets only the latest set.
	// It is closed when ctx ends or the registry is closed.
	Watch(ctx context.Context) <-chan []integrations.Integration
	// Close stops background work and closes the watch channels.
	Close() error
}

var (
	_ Registry = (*Memory)(nil)
	_ Registry = (*File)(nil)
	_ Registry = (*Kafka)(nil)
)

// set is the in-memory state shared by the implementations: the current
// integrations and the watchers told of every change.
type set struct {
	mu       sync.RWMutex
	items    map[string]integrations.Integration
	watchers map[chan []integrations.Integration]struct{}
	closed   bool
}

func newSet() *set {
	return &set{items: map[string]integrations.Integration{}, watchers: map[chan []integrations.Integration]struct{}{}}
}

func (s *set) list() []integrations.Integration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snapshotLocked()
}

func (s *set) snapshotLocked() []integrations.Integration {
	out := make([]integrations.Integration, 0, len(s.items))
	for _, it := range s.items {
		out = append(out, it.Clone())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *set) get(id string) (integrations.Integration, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.items[id]
	return it.Clone(), ok
}

// nameTaken reports whether another integration than id has name.
func (s *set) nameTaken(name, id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, it := range s.items {
		if it.Name == name && it.ID != id {
			return true
		}
	}
	return false
}

// find returns id's integration, or a not-found error.
func (s *set) find(id string) (integrations.Integration, error) {
	it, ok := s.get(id)
	if !ok {
		return integrations.Integration{}, notFound(id)
	}
	return it, nil
}

// checkNew says whether it may be created: its id and name are free.
func (s *set) checkNew(it integrations.Integration) error {
	if _, ok := s.get(it.ID); ok {
		return &ConflictError{Field: "id", Message: "integration id " + it.ID + " exists"}
	}
	if s.nameTaken(it.Name, it.ID) {
		return nameConflict(it.Name)
	}
	return nil
}

// next is id's integration changed by fn, its id and creation time kept and
// its name still free. The caller holds its write lock and stores it.
func (s *set) next(id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	cur, err := s.find(id)
	if err != nil {
		return integrations.Integration{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return integrations.Integration{}, err
	}
	next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
	if s.nameTaken(next.Name, id) {
		return integrations.Integration{}, nameConflict(next.Name)
	}
	return next, nil
}

// put stores it (or removes id when it is nil) and tells the watchers.
func (s *set) put(id string, it *integrations.Integration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it == nil {
		if _, ok := s.items[id]; !ok {
			return
		}
		delete(s.items, id)
	} else {
		s.items[id] = it.Clone()
	}
	s.notifyLocked()
}

// replace sets the whole set and tells the watchers.
func (s *set) replace(items map[string]integrations.Integration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = items
	s.notifyLocked()
}

func (s *set) notifyLocked() {
	if len(s.watchers) == 0 {
		return
	}
	snap := s.snapshotLocked()
	for ch := range s.watchers {
		select { // drop the unread older set: only the latest counts
		case <-ch:
		default:
		}
		ch <- cloneAll(snap)
	}
}

func cloneAll(in []integrations.Integration) []integrations.Integration {
	out := make([]integrations.Integration, len(in))
	for i, it := range in {
		out[i] = it.Clone()
	}
	return out
}

func (s *set) watch(ctx context.Context) <-chan []integrations.Integration {
	ch := make(chan []integrations.Integration, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	ch <- s.snapshotLocked()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
	}()
	return ch
}

func (s *set) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ch := range s.watchers {
		delete(s.watchers, ch)
		close(ch)
	}
}

func notFound(id string) error { return &notFoundError{id} }

type notFoundError struct{ id string }

func (e *notFoundError) Error() string { return "integration " + e.id + " not found" }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func nameConflict(name string) error {
	return &ConflictError{Field: "name", Message: "an integration named " + quote(name) + " already exists"}
}

func quote(s string) string { return "\"" + s + "\"" }

var errIOEOF = io.EOF
