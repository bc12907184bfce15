package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hitexport/hitexport/integrations"
)

// FileOptions configure a File registry.
type FileOptions struct {
	// Path of the YAML file (HITEXPORT_REGISTRY=file:PATH).
	Path string
	// Defaults for omitted fields (filter.topic).
	Defaults integrations.Defaults
	// Interval between checks for changes (default 1s).
	Interval time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// File is the read-only registry of a YAML file: a list of integrations with
// the JSON field names; secrets as access_key/secret_key or as
// access_key_file/secret_key_file (paths, relative to the YAML file's
// folder), ca_pem or ca_file, external_id or external_id_file. An item without id gets one derived from its
// name ("itg-" + 10 base32 characters of its SHA-256), stable across
// replicas and restarts; give an id to keep the progress across renames.
//
// The file (and the files it names) is checked every Interval; a change
// that loads replaces the set. One that does not keeps the last good set
// and logs one error naming the item and field (once per bad content).
//
// SetDisabled (auto-disable) is kept in memory on this replica until the
// process restarts or the item's definition in the file changes.
type File struct {
	opts FileOptions
	set  *set
	log  *slog.Logger

	mu       sync.Mutex
	fp       string            // fingerprint of the last load attempt's inputs
	prints   map[string]string // id → fingerprint of its definition
	overlay  map[string]disabledOverlay
	lastBad  string
	loadedAt time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

type disabledOverlay struct {
	by, reason string
	at         time.Time
	print      string
}

// fileItem is one integration of the YAML file.
type fileItem struct {
	ID          string          `yaml:"id"`
	Name        string          `yaml:"name"`
	Enabled     *bool           `yaml:"enabled"`
	Destination fileDestination `yaml:"destination"`
	Format      string          `yaml:"format"`
	Compression string          `yaml:"compression"`
	KeyPrefix   string          `yaml:"key_prefix"`
	Filter      struct {
		Topic string           `yaml:"topic"`
		Match map[string][]any `yaml:"match"`
	} `yaml:"filter"`
	Start     string `yaml:"start"`
	NotifyURL string `yaml:"notify_url"`
}

type fileDestination struct {
	Endpoint      string `yaml:"endpoint"`
	Bucket        string `yaml:"bucket"`
	Region        string `yaml:"region"`
	AccessKey     string `yaml:"access_key"`
	SecretKey     string `yaml:"secret_key"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyFile string `yaml:"secret_key_file"`
	TLS           bool   `yaml:"tls"`
	CAPEM         string `yaml:"ca_pem"`
	CAFile        string `yaml:"ca_file"`

	SSE             string `yaml:"sse"`
	SSEKMSKeyID     string `yaml:"sse_kms_key_id"`
	RoleARN         string `yaml:"role_arn"`
	ExternalID      string `yaml:"external_id"`
	ExternalIDFile  string `yaml:"external_id_file"`
	RoleSessionName string `yaml:"role_session_name"`
	STSEndpoint     string `yaml:"sts_endpoint"`
}

// NewFile loads the file (an error names the item and field) and starts
// following it.
func NewFile(opts FileOptions) (*File, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &File{opts: opts, set: newSet(), log: opts.Logger, prints: map[string]string{}, overlay: map[string]disabledOverlay{}, done: make(chan struct{})}
	if _, err := f.reload(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.follow(ctx)
	return f, nil
}

func (f *File) follow(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := f.reload()
		switch {
		case err != nil:
			msg := err.Error()
			f.mu.Lock()
			first := msg != f.lastBad
			f.lastBad = msg
			f.mu.Unlock()
			if first {
				f.log.Error("integrations file not reloaded: keeping the last good set", "path", f.opts.Path, "error", msg)
			}
		case changed:
			f.mu.Lock()
			f.lastBad = ""
			f.mu.Unlock()
			f.log.Info("integrations file reloaded", "path", f.opts.Path, "integrations", len(f.set.list()))
		}
	}
}

// reload loads the file when it or a file it names changed.
func (f *File) reload() (bool, error) {
	raw, err := os.ReadFile(f.opts.Path)
	if err != nil {
		return false, fmt.Errorf("integrations file %s: %w", f.opts.Path, err)
	}
	items, refs, err := parseFile(raw)
	if err != nil {
		return false, fmt.Errorf("integrations file %s: %w", f.opts.Path, err)
	}
	h := sha256.New()
	h.Write(raw)
	for _, p := range refs {
		b, _ := os.ReadFile(f.resolve(p))
		fmt.Fprintf(h, "\x00%s\x00%x", p, sha256.Sum256(b))
	}
	fp := hex.EncodeToString(h.Sum(nil))
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp == f.fp {
		return false, nil
	}
	out, prints, err := f.build(items)
	if err != nil {
		return false, fmt.Errorf("integrations file %s: %w", f.opts.Path, err)
	}
	f.fp = fp
	for id, o := range f.overlay {
		if prints[id] != o.print {
			delete(f.overlay, id) // redefined or removed: the file decides again
		}
	}
	for id, o := range f.overlay {
		it := out[id]
		it.SetEnabled(false, o.by, o.reason, o.at)
		out[id] = it
	}
	f.prints = prints
	f.loadedAt = time.Now()
	f.set.replace(out)
	return true, nil
}

// parseFile decodes the YAML list and returns the files it names.
func parseFile(raw []byte) ([]fileItem, []string, error) {
	var items []fileItem
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&items); err != nil && !errors.Is(err, errIOEOF) {
		return nil, nil, fmt.Errorf("not a YAML list of integrations: %v", err)
	}
	var refs []string
	for _, it := range items {
		for _, p := range []string{it.Destination.AccessKeyFile, it.Destination.SecretKeyFile, it.Destination.CAFile, it.Destination.ExternalIDFile} {
			if p != "" {
				refs = append(refs, p)
			}
		}
	}
	return items, refs, nil
}

func (f *File) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(f.opts.Path), p)
}

func (f *File) build(items []fileItem) (map[string]integrations.Integration, map[string]string, error) {
	out := map[string]integrations.Integration{}
	prints := map[string]string{}
	names := map[string]bool{}
	stamp := time.Now().UTC()
	if st, err := os.Stat(f.opts.Path); err == nil {
		stamp = st.ModTime().UTC()
	}
	for n, fi := range items {
		where := fmt.Sprintf("integration #%d", n+1)
		if fi.Name != "" {
			where += " (" + fi.Name + ")"
		}
		it, err := f.toIntegration(fi)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := it.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		if _, dup := out[it.ID]; dup {
			return nil, nil, fmt.Errorf("%s: id: %q is used twice", where, it.ID)
		}
		if names[it.Name] {
			return nil, nil, fmt.Errorf("%s: name: %q is used twice", where, it.Name)
		}
		names[it.Name] = true
		print := definitionPrint(it)
		prints[it.ID] = print
		if old, ok := f.set.get(it.ID); ok && f.prints[it.ID] == print {
			it.CreatedAt, it.UpdatedAt = old.CreatedAt, old.UpdatedAt
		} else if ok {
			it.CreatedAt, it.UpdatedAt = old.CreatedAt, stamp
		} else {
			it.CreatedAt, it.UpdatedAt = stamp, stamp
		}
		out[it.ID] = it
	}
	return out, prints, nil
}

func (f *File) toIntegration(fi fileItem) (integrations.Integration, error) {
	d := fi.Destination
	it := integrations.Integration{
		ID: fi.ID, Name: strings.TrimSpace(fi.Name), Enabled: fi.Enabled == nil || *fi.Enabled,
		Destination: integrations.Destination{Endpoint: d.Endpoint, Bucket: d.Bucket, Region: d.Region,
			AccessKey: d.AccessKey, SecretKey: d.SecretKey, TLS: d.TLS, CAPEM: d.CAPEM,
			SSE: d.SSE, SSEKMSKeyID: d.SSEKMSKeyID, RoleARN: d.RoleARN, ExternalID: d.ExternalID,
			RoleSessionName: d.RoleSessionName, STSEndpoint: d.STSEndpoint},
		Format: fi.Format, Compression: fi.Compression, KeyPrefix: fi.KeyPrefix,
		Filter: integrations.Filter{Topic: fi.Filter.Topic}, Start: fi.Start, NotifyURL: fi.NotifyURL,
	}
	if !it.Enabled {
		it.DisabledBy, it.DisabledReason = integrations.DisabledByUser, "disabled in the integrations file"
	}
	if it.ID == "" {
		it.ID = DerivedID(it.Name)
	}
	read := func(field, path string, dst *string) error {
		if path == "" {
			return nil
		}
		if *dst != "" {
			return fmt.Errorf("%s: set together with %s_file: choose one", field, field)
		}
		b, err := os.ReadFile(f.resolve(path))
		if err != nil {
			return fmt.Errorf("%s_file: cannot read the file it names: %v", field, errors.Unwrap(err))
		}
		*dst = strings.TrimRight(string(b), "\r\n")
		return nil
	}
	if err := read("destination.access_key", d.AccessKeyFile, &it.Destination.AccessKey); err != nil {
		return it, err
	}
	if err := read("destination.secret_key", d.SecretKeyFile, &it.Destination.SecretKey); err != nil {
		return it, err
	}
	if err := read("destination.external_id", d.ExternalIDFile, &it.Destination.ExternalID); err != nil {
		return it, err
	}
	if d.CAFile != "" {
		if d.CAPEM != "" {
			return it, fmt.Errorf("destination.ca_pem: set together with destination.ca_file: choose one")
		}
		b, err := os.ReadFile(f.resolve(d.CAFile))
		if err != nil {
			return it, fmt.Errorf("destination.ca_file: cannot read the file it names: %v", errors.Unwrap(err))
		}
		it.Destination.CAPEM = string(b)
	}
	if len(fi.Filter.Match) > 0 {
		it.Filter.Match = map[string][]json.RawMessage{}
		for k, vs := range fi.Filter.Match {
			for _, v := range vs {
				b, err := json.Marshal(v)
				if err != nil {
					return it, fmt.Errorf("filter.match.%s: not a JSON value: %v", k, err)
				}
				it.Filter.Match[k] = append(it.Filter.Match[k], b)
			}
			if len(vs) == 0 {
				it.Filter.Match[k] = []json.RawMessage{}
			}
		}
	}
	it.ApplyDefaults(f.opts.Defaults)
	return it, nil
}

// DerivedID is the id of a file item without one: "itg-" and 10 base32
// characters of the SHA-256 of the name.
func DerivedID(name string) string {
	s := sha256.Sum256([]byte(name))
	return integrations.IDPrefix + strings.ToLower(base32.StdEncoding.EncodeToString(s[:]))[:10]
}

// definitionPrint is a digest of everything the file defines for it.
func definitionPrint(it integrations.Integration) string {
	h := sha256.New()
	b, _ := json.Marshal(it) // secrets are not marshalled: add them
	h.Write(b)
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%t", it.Destination.AccessKey, it.Destination.SecretKey, it.Destination.ExternalID, it.Enabled)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *File) List(ctx context.Context) ([]integrations.Integration, error) {
	return f.set.list(), nil
}

func (f *File) Get(ctx context.Context, id string) (integrations.Integration, error) {
	it, ok := f.set.get(id)
	if !ok {
		return integrations.Integration{}, notFound(id)
	}
	return it, nil
}

func (f *File) Create(context.Context, integrations.Integration) (integrations.Integration, error) {
	return integrations.Integration{}, ErrReadOnly
}

func (f *File) Update(context.Context, string, func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	return integrations.Integration{}, ErrReadOnly
}

func (f *File) Delete(context.Context, string) error { return ErrReadOnly }

// SetDisabled disables id on this replica until the process restarts or
// the file changes the item's definition.
func (f *File) SetDisabled(ctx context.Context, id, by, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.set.get(id)
	if !ok {
		return notFound(id)
	}
	if !it.Enabled {
		return nil // already disabled
	}
	now := time.Now().UTC()
	f.overlay[id] = disabledOverlay{by: by, reason: reason, at: now, print: f.prints[id]}
	it.SetEnabled(false, by, reason, now)
	f.set.put(id, &it)
	return nil
}

func (f *File) ReadOnly() bool { return true }

func (f *File) Watch(ctx context.Context) <-chan []integrations.Integration { return f.set.watch(ctx) }

func (f *File) Close() error {
	f.cancel()
	<-f.done
	f.set.close()
	return nil
}
