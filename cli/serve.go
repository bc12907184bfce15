package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hitexport/hitexport/adminapi"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/console"
	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/registry"
	"github.com/hitexport/hitexport/store"
)

// rejectedTargetID is the id (metric label) of the deployment's sink of
// rejected records of a topic in the kafka and file registries.
const rejectedTargetPrefix = "_rejected-"

// runtime ties the registry to the data plane: every snapshot of the
// registry becomes the group's set of targets (one per enabled
// integration, plus one rejected-records sink per topic), applied live.
type runtime struct {
	cfg   *config.Config
	log   *slog.Logger
	reg   registry.Registry
	parts *Parts
	base  *pipeline.Settings // the deployment's settings (window, limits, spool)

	mu    sync.Mutex
	cache map[string]cachedTarget
	names map[string]string // id -> name, for events
	notif *integrations.Notifier
	urls  map[string]string // id -> notify_url
	// stop is closed on SIGTERM: the integrations' mergers make their last
	// sweep.
	stop <-chan struct{}
	// blocked: enabled integrations not started, with the reason.
	blocked map[string]string
}

// destinationKey is where an integration's keys live: endpoint (host case
// folded), bucket and the literal beginning of its key prefix (its
// placeholder folders and the exporter's staging share it).
func destinationKey(it integrations.Integration) string {
	lit, _ := integrations.SplitKeyPrefix(it.KeyPrefix)
	return strings.ToLower(it.Destination.Endpoint) + "\x00" + it.Destination.Bucket + "\x00" + lit
}

// blockedReason says why an enabled integration is not running, if so.
func (r *runtime) blockedReason(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason, ok := r.blocked[id]
	return reason, ok
}

type cachedTarget struct {
	version string
	target  pipeline.Target
	stop    func() // ends the integration's merger (window layout), if any
	done    chan struct{}
}

func newRuntime(cfg *config.Config, log *slog.Logger, reg registry.Registry, parts *Parts, stop <-chan struct{}) *runtime {
	return &runtime{
		cfg: cfg, log: log, reg: reg, parts: parts, base: parts.Group.Settings,
		cache: map[string]cachedTarget{}, names: map[string]string{}, urls: map[string]string{},
		notif: &integrations.Notifier{Logger: log}, stop: stop,
	}
}

// envMode: the env registry's one integration is the group's default target
// exactly as before integrations existed (its group is the membership group,
// fenced commits, rejected records in its bucket, the deployment's health).
func (r *runtime) envMode() bool { return r.cfg.RegistryKind() == "env" }

// apply makes the enabled integrations of list the group's targets.
func (r *runtime) apply(list []integrations.Integration) {
	if r.envMode() {
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	r.mu.Lock()
	var ts []pipeline.Target
	var filters []integrations.Filter
	seen := map[string]bool{}
	topics := map[string]bool{}
	dests := map[string]string{} // destination -> the integration writing there
	r.blocked = map[string]string{}
	for _, it := range list {
		r.names[it.ID], r.urls[it.ID] = it.Name, it.NotifyURL
		if !it.Enabled {
			continue
		}
		// Two integrations writing the same keys would fence each other's
		// objects as a zombie's and lose hits: the first (by id) runs, the
		// other waits, failing with the reason, until one of them moves.
		dest := destinationKey(it)
		if other, ok := dests[dest]; ok {
			reason := "shares its endpoint, bucket and key prefix with integration " + r.names[other] +
				" (" + other + "): not started; give it another bucket or key_prefix"
			r.blocked[it.ID] = reason
			r.log.Error("integration not started", "integration", it.ID, "name", it.Name, "reason", reason)
			continue
		}
		dests[dest] = it.ID
		t, err := r.target(it)
		if err != nil {
			r.log.Error("integration cannot run; it is skipped until it is changed", "integration", it.ID, "name", it.Name, "error", err.Error())
			continue
		}
		seen[it.ID] = true
		ts = append(ts, t)
		filters = append(filters, it.Filter)
		topics[t.Topic] = true
	}
	for id, c := range r.cache {
		if !seen[id] {
			if c.stop != nil {
				c.stop()
			}
			delete(r.cache, id)
		}
	}
	r.mu.Unlock()
	n := len(ts)
	// Rejected records of each topic go to the deployment's own bucket
	// (HITEXPORT_S3_*), never to a customer's: a malformed record cannot be
	// attributed to one customer.
	var tl []string
	for t := range topics {
		tl = append(tl, t)
	}
	sort.Strings(tl)
	for _, topic := range tl {
		ts = append(ts, pipeline.Target{
			ID: rejectedTargetPrefix + topic, Topic: topic, Settings: r.base, Uploader: r.parts.Group.Uploader,
			Rejected: true, Group: r.cfg.KafkaGroup + ".rejected", Start: pipeline.StartPolicy{Mode: pipeline.StartLatest},
			Version: "1",
		})
	}
	m := integrations.NewMatcher(filters)
	sel := func(raw []byte, dst []bool) {
		m.Match(raw, dst[:n])
		for i := n; i < len(dst); i++ {
			dst[i] = false
		}
	}
	r.log.Info("integrations applied", "enabled", n, "topics", tl)
	r.parts.Group.SetTargets(ts, sel)
}

// target builds (or reuses, while the integration is unchanged) the
// data plane's target of an enabled integration.
func (r *runtime) target(it integrations.Integration) (pipeline.Target, error) {
	version := it.UpdatedAt.UTC().Format(time.RFC3339Nano)
	c, ok := r.cache[it.ID]
	if ok && c.version == version {
		return c.target, nil
	}
	if ok && c.stop != nil {
		c.stop() // the integration changed: its merger is built again below
	}
	b, err := integrationBucket(it.Destination)
	if err != nil {
		return pipeline.Target{}, err
	}
	layout, err := integrationLayout(r.cfg, it)
	if err != nil {
		return pipeline.Target{}, err
	}
	s := *r.base
	s.Layout = layout
	lit, _ := integrations.SplitKeyPrefix(it.KeyPrefix)
	cfg := r.cfg
	up := &pipeline.Uploader{
		Bucket: store.WithPrefix(b, lit), Schedule: cfg.Retry, AttemptTimeout: 2 * time.Minute,
		Log: r.log.With("integration", it.ID), Metrics: r.parts.Metrics, Isolated: true,
		Health: pipeline.NewHealth(cfg.FailureWindow, cfg.FailureThreshold, len(cfg.Retry[0]), nil),
	}
	start := pipeline.StartPolicy{Mode: pipeline.StartLatest}
	switch it.Start {
	case "earliest":
		start.Mode = pipeline.StartEarliest
	case "", "latest":
	default:
		if t, ok := it.StartTime(); ok {
			start = pipeline.StartPolicy{Mode: pipeline.StartAtTime, Time: t}
		}
	}
	t := pipeline.Target{
		ID: it.ID, Topic: it.Filter.Topic, Settings: &s, Uploader: up,
		Group: IntegrationGroup(cfg, it.ID), Start: start, Version: version,
	}
	var stopMerger func()
	var mergerDone chan struct{}
	if cfg.Layout == string(pipeline.ObjectsWindow) {
		// One object per window for this integration: its partitions stage
		// parts in its bucket, its merger (one per replica) merges them.
		mlog := r.log.With("integration", it.ID)
		if r.parts != nil && r.parts.finals != nil {
			mlog = r.parts.finals.logFinals(mlog, it.ID)
		}
		m, err := mergerOf(cfg, up.Bucket, layout, it.Filter.Topic, mlog)
		if err != nil {
			return pipeline.Target{}, err
		}
		s.Stager = &pipeline.Stager{Bucket: up.Bucket, Poke: m.Poke}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx, r.stop) }()
		stopMerger, mergerDone = func() { cancel(); <-done }, done
	}
	r.cache[it.ID] = cachedTarget{version: version, target: t, stop: stopMerger, done: mergerDone}
	return t, nil
}

// waitMergers waits, after stop was closed, for the integrations' mergers
// to finish their last sweep, at most timeout; then cancels them (a merge
// cut short is completed by the next sweep of any replica).
func (r *runtime) waitMergers(timeout time.Duration) {
	r.mu.Lock()
	var cs []cachedTarget
	for _, c := range r.cache {
		if c.stop != nil {
			cs = append(cs, c)
		}
	}
	r.mu.Unlock()
	deadline := time.After(timeout)
	for _, c := range cs {
		select {
		case <-c.done:
		case <-deadline:
		}
		c.stop()
	}
}

// autoDisable persists the seed's auto-disable (FAILURE_THRESHOLD of the
// attempts failed within FAILURE_WINDOW) in the registry, which removes the
// target on every replica, and calls the integration's notify_url.
func (r *runtime) autoDisable(id, reason string) {
	if len(id) > len(rejectedTargetPrefix) && id[:len(rejectedTargetPrefix)] == rejectedTargetPrefix {
		r.log.Error("the deployment's bucket for rejected records keeps failing; it is never disabled", "reason", reason)
		return
	}
	r.mu.Lock()
	name, url := r.names[id], r.urls[id]
	r.mu.Unlock()
	// The data plane logged the auto-disable (one line per event); this
	// only persists it and notifies.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.reg.SetDisabled(ctx, id, integrations.DisabledByAuto, reason); err != nil {
			r.log.Error("recording the auto-disable failed", "integration", id, "error", err.Error())
			return
		}
		if url != "" {
			r.notif.Send(url, integrations.Event{ID: id, Name: name, State: integrations.StateAutoDisabled,
				PreviousState: integrations.StateFailing, Reason: reason, Time: time.Now().UTC()})
		}
	}()
}

// statusSource gives the admin API the runtime part of a status.
type statusSource struct {
	g       *pipeline.Group
	envMode bool
	rt      *runtime
}

func (s statusSource) Status(id string) (integrations.RuntimeStatus, bool) {
	if s.envMode && id == registry.DefaultID {
		id = "default"
	}
	if s.rt != nil {
		if reason, ok := s.rt.blockedReason(id); ok {
			return integrations.RuntimeStatus{Failing: true, FailingReason: reason}, true
		}
	}
	ts, ok := s.g.TargetStatus(id)
	if !ok {
		return integrations.RuntimeStatus{}, false
	}
	rt := integrations.RuntimeStatus{
		Failing: ts.Failing, FailureRatio: ts.FailureRatio, LagRecords: ts.LagRecords, LostRecords: ts.LostRecords,
	}
	if ts.Failing {
		rt.FailingReason = "uploads are failing; retrying on the retry schedule, nothing is lost"
		if ts.Parked {
			rt.FailingReason = "uploads are failing; parked at its own position, it catches up when the destination works again"
		}
	}
	if ts.LastDelivery != nil {
		rt.LastDelivery = &integrations.Delivery{Time: ts.LastDelivery.Time, Key: ts.LastDelivery.Key}
	}
	if s.rt != nil && s.rt.parts != nil {
		// Window layout: the last object the customer sees (the merger's),
		// not the last staged part.
		if d, ok := s.rt.parts.finals.get(id); ok {
			rt.LastDelivery = &integrations.Delivery{Time: d.Time, Key: d.Key}
		}
	}
	if ts.LastError != nil {
		rt.LastError = &integrations.ErrorInfo{Time: ts.LastError.Time, Class: ts.LastError.Class, Message: ts.LastError.Message}
	}
	if !ts.OldestUndelivered.IsZero() {
		t := ts.OldestUndelivered
		rt.OldestUndelivered = &t
	}
	return rt, true
}

// startAdmin serves the admin API (and the console) on HITEXPORT_ADMIN_ADDR.
func startAdmin(cfg *config.Config, log *slog.Logger, reg registry.Registry, g *pipeline.Group, rt *runtime) (*http.Server, error) {
	opts := adminapi.Options{
		Registry: reg, Defaults: integrationDefaults(cfg), Tester: Tester(cfg),
		Status: statusSource{g: g, envMode: cfg.RegistryKind() == "env", rt: rt}, Logger: log,
		Notify: (&integrations.Notifier{Logger: log}).Send,
	}
	if cfg.RegistryKind() == "kafka" {
		opts.Positions = positions{cfg: cfg, reg: reg}
	}
	srv, err := adminapi.NewServer(adminapi.ServerConfig{Addr: cfg.AdminAddr, TokenFile: cfg.AdminTokenFile, AllowNoToken: cfg.AdminAllowNoToken}, opts)
	if err != nil {
		return nil, err
	}
	srv.Handler = adminMux(srv.Handler)
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return nil, &config.Error{Var: "ADMIN_ADDR", Msg: "cannot listen: " + err.Error()}
	}
	go func() { _ = srv.Serve(ln) }()
	log.Info("admin API listening", "addr", ln.Addr().String(), "registry", cfg.RegistryKind())
	return srv, nil
}

// adminMux is the admin address's handler: the API under /api/, the
// console everywhere else (same origin, same token).
func adminMux(api http.Handler) http.Handler { return console.Mount(api) }
