package cli

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/pipeline"
)

// Two enabled integrations writing the same keys (endpoint, bucket and key
// prefix) would fence each other's objects: only the first runs, the other
// is reported failing with the reason; disabled ones never count.
func TestRuntimeRefusesSharedDestination(t *testing.T) {
	cfg, err := config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY": "ak", "HITEXPORT_S3_SECRET_KEY": "sk"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = "file:/dev/null"
	g := &pipeline.Group{Kafka: pipeline.KafkaOptions{Topic: "hits", Group: "g"}, Metrics: pipeline.NewMetrics(nil, nil)}
	layout, err := Layout(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Settings = Settings(cfg, layout)
	rt := newRuntime(cfg, slog.New(slog.DiscardHandler), nil, &Parts{Group: g, Metrics: g.Metrics}, nil)
	mk := func(id, name, endpoint, bucket, prefix string, enabled bool) integrations.Integration {
		return integrations.Integration{ID: id, Name: name, Enabled: enabled, Format: "ndjson", Compression: "none",
			KeyPrefix: prefix, UpdatedAt: time.Unix(1, 0),
			Destination: integrations.Destination{Endpoint: endpoint, Bucket: bucket, Region: "us-east-1", AccessKey: "a", SecretKey: "s"},
			Filter:      integrations.Filter{Topic: "hits"}}
	}
	rt.apply([]integrations.Integration{
		mk("itg-a", "a", "s3.example:9000", "logs", "waf/", true),
		mk("itg-b", "b", "S3.EXAMPLE:9000", "logs", "waf/dt={yyyy}/", true), // same literal prefix
		mk("itg-c", "c", "s3.example:9000", "logs", "other/", true),
		mk("itg-d", "d", "s3.example:9000", "logs", "waf/", false), // disabled: ignored
	})
	if r, ok := rt.blockedReason("itg-b"); !ok || !strings.Contains(r, "itg-a") {
		t.Fatalf("b not blocked by a: %q %v", r, ok)
	}
	for _, id := range []string{"itg-a", "itg-c", "itg-d"} {
		if r, ok := rt.blockedReason(id); ok {
			t.Fatalf("%s blocked: %s", id, r)
		}
	}
	st, ok := statusSource{g: g, rt: rt}.Status("itg-b")
	if !ok || !st.Failing || !strings.Contains(st.FailingReason, "not started") {
		t.Fatalf("status of b: %+v", st)
	}
}
