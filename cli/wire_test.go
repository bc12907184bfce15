package cli

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/config"
)

func parse(t *testing.T, extra map[string]string) *config.Config {
	t.Helper()
	m := map[string]string{"HITEXPORT_S3_ACCESS_KEY": "ak", "HITEXPORT_S3_SECRET_KEY": "sk"}
	for k, v := range extra {
		m[k] = v
	}
	cfg, err := config.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestKafkaOptionsPlainHasClientIDOnly(t *testing.T) {
	ko, err := KafkaOptions(parse(t, nil))
	if err != nil || ko.Dialer == nil || ko.Transport == nil {
		t.Fatalf("plain: %v %+v", err, ko)
	}
	if ko.Dialer.TLS != nil || ko.Dialer.SASLMechanism != nil || ko.Transport.TLS != nil || ko.Transport.SASL != nil {
		t.Errorf("plain: security set")
	}
	if id := ko.Dialer.ClientID; !strings.HasPrefix(id, "hitexport-") || id != ko.Transport.ClientID {
		t.Errorf("default client id %q / %q", id, ko.Transport.ClientID)
	}
}

// Regression (issue 9, bug 6): every replica reported kafka-go's default
// client id; the id is configurable and defaults to host name and pid.
func TestKafkaClientIDConfigurable(t *testing.T) {
	ko, err := KafkaOptions(parse(t, map[string]string{"HITEXPORT_KAFKA_CLIENT_ID": "exporter-a"}))
	if err != nil || ko.Dialer.ClientID != "exporter-a" || ko.Transport.ClientID != "exporter-a" {
		t.Fatalf("client id: %v %+v", err, ko)
	}
	ko, _ = KafkaOptions(parse(t, nil))
	host, _ := os.Hostname()
	if want := "hitexport-" + host + "-" + strconv.Itoa(os.Getpid()); ko.Dialer.ClientID != want {
		t.Errorf("default client id %q, want %q", ko.Dialer.ClientID, want)
	}
}

func TestKafkaOptionsSecurity(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		tls  bool
		mech string
	}{
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true"}, true, ""},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "plain", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD": "p"}, false, "PLAIN"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_SASL_MECHANISM": "scram-sha-256", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD": "p"}, true, "SCRAM-SHA-256"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "scram-sha-512", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD": "p"}, false, "SCRAM-SHA-512"},
	} {
		ko, err := KafkaOptions(parse(t, c.env))
		if err != nil || ko.Dialer == nil || ko.Transport == nil {
			t.Fatalf("%v: %v %+v", c.env, err, ko)
		}
		if (ko.Dialer.TLS != nil) != c.tls || (ko.Transport.TLS != nil) != c.tls {
			t.Errorf("%v: TLS on dialer %v, transport %v", c.env, ko.Dialer.TLS != nil, ko.Transport.TLS != nil)
		}
		if c.tls && ko.Dialer.TLS.MinVersion == 0 {
			t.Errorf("%v: no minimum TLS version", c.env)
		}
		name := func(m interface{ Name() string }) string {
			if m == nil {
				return ""
			}
			return m.Name()
		}
		if c.mech == "" {
			if ko.Dialer.SASLMechanism != nil || ko.Transport.SASL != nil {
				t.Errorf("%v: SASL set", c.env)
			}
		} else if name(ko.Dialer.SASLMechanism) != c.mech || name(ko.Transport.SASL) != c.mech {
			t.Errorf("%v: mechanisms %v / %v, want %s", c.env, ko.Dialer.SASLMechanism, ko.Transport.SASL, c.mech)
		}
	}
}

// The derived memory limit follows the configuration and the number of
// target-partition workers, and leaves a user's GOMEMLIMIT alone.
func TestMemoryLimit(t *testing.T) {
	cfg := &config.Config{MaxOpenObjects: 32, SpoolMemory: 4 << 20}
	for _, c := range []struct {
		workers int
		want    int64
	}{
		{0, 224 << 20}, {4, 224 << 20}, {16, 224 << 20}, // MAX_OPEN_OBJECTS is the floor
		{17, 34*5<<20 + 64<<20},
		{400, 800*5<<20 + 64<<20}, // 100 integrations × 4 partitions: about 4 GiB
	} {
		if got := MemoryLimit(cfg, c.workers); got != c.want {
			t.Errorf("MemoryLimit(defaults, %d workers) = %d, want %d", c.workers, got, c.want)
		}
	}
	cfg.MaxOpenObjects, cfg.SpoolMemory = 2, 0
	if got, want := MemoryLimit(cfg, 0), int64(66<<20); got != want {
		t.Fatalf("MemoryLimit(2 objects, no spool memory) = %d, want %d", got, want)
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	m := newMemLimiter(cfg)
	if l := m.current(); !m.derived || l != 66<<20 || debug.SetMemoryLimit(-1) != 66<<20 {
		t.Fatalf("derived limit not applied: %d %v", l, m.derived)
	}
	m.workers(10) // 20 objects of 1 MiB
	if l := m.current(); l != 84<<20 || debug.SetMemoryLimit(-1) != 84<<20 {
		t.Fatalf("limit for 10 workers: %d (runtime %d), want %d", l, debug.SetMemoryLimit(-1), 84<<20)
	}
	m.workers(0)
	if debug.SetMemoryLimit(-1) != 66<<20 {
		t.Fatalf("limit not lowered when the workers went: %d", debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOMEMLIMIT", "1TiB")
	m = newMemLimiter(cfg)
	m.workers(400)
	if l := m.current(); m.derived || l != 1<<40 || debug.SetMemoryLimit(-1) != 1<<40 {
		t.Fatalf("GOMEMLIMIT set by the user was overridden: %d %v", l, m.derived)
	}
}
