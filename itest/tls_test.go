//go:build integration

// TLS and SASL against real servers: a Kafka of the test's own with an SSL
// listener (client certificates required) and a SASL_SSL listener (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512), and a versitygw serving HTTPS, all with
// certificates of a CA that scripts/tls.sh makes for the test.
package itest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
)

// tlsKafka is the test's own Kafka with TLS and SASL listeners.
type tlsKafka struct {
	plain, ssl, sasl string // host:port of the PLAINTEXT, SSL and SASL_SSL listeners
}

func tlsSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

func startTLSKafka(t *testing.T, tlsDir string, scramUser, scramPW, plainUser, plainPW string) *tlsKafka {
	t.Helper()
	ports := map[string]int{}
	used := map[int]bool{}
	for _, n := range []string{"plain", "controller", "ssl", "sasl"} {
		p := opsFreePort(t)
		for used[p] {
			p = opsFreePort(t)
		}
		used[p] = true
		ports[n] = p
	}
	envv := []string{
		"KAFKA_PORT=" + strconv.Itoa(ports["plain"]), "KAFKA_CONTROLLER_PORT=" + strconv.Itoa(ports["controller"]),
		"KAFKA_SSL_PORT=" + strconv.Itoa(ports["ssl"]), "KAFKA_SSL_CLIENT_AUTH=required",
		"KAFKA_SASL_PORT=" + strconv.Itoa(ports["sasl"]), "KAFKA_SASL_PROTOCOL=SASL_SSL",
		"KAFKA_SCRAM_USERS=" + scramUser + ":" + scramPW, "KAFKA_PLAIN_USERS=" + plainUser + ":" + plainPW,
		"KAFKA_TLS_DIR=" + tlsDir, "KAFKA_DIR=" + filepath.Join(t.TempDir(), "kafka"),
		"KAFKA_HEAP_OPTS=-Xms128m -Xmx384m", "KAFKA_START_TIMEOUT=240",
	}
	t.Cleanup(func() { _, _ = opsScript(t, 2*time.Minute, envv, "kafka.sh", "stop") })
	start := time.Now()
	out, err := opsScript(t, 5*time.Minute, envv, "kafka.sh", "start")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{scramPW, plainPW} {
		if strings.Contains(out, pw) {
			t.Errorf("kafka.sh start printed a SASL password")
		}
	}
	t.Logf("own Kafka with SSL and SASL_SSL listeners up in %s", time.Since(start).Round(time.Millisecond))
	return &tlsKafka{plain: fmt.Sprintf("127.0.0.1:%d", ports["plain"]), ssl: fmt.Sprintf("127.0.0.1:%d", ports["ssl"]),
		sasl: fmt.Sprintf("127.0.0.1:%d", ports["sasl"])}
}

// TestTLS: check and a short run succeed over Kafka TLS + SCRAM and S3 HTTPS
// with a private CA; PLAIN, SCRAM-SHA-512 and client certificates work too;
// a wrong CA, a wrong password, a missing client certificate fail with a
// message naming the setting, and no password ever appears in the output.
func TestTLS(t *testing.T) {
	tlsDir := filepath.Join(t.TempDir(), "tls")
	if out, err := opsScript(t, time.Minute, []string{"TLS_DIR=" + tlsDir}, "tls.sh", "generate"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ca, otherCA := filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "other-ca.pem")
	scramPW, plainPW, wrongPW := tlsSecret(t), tlsSecret(t), tlsSecret(t)
	k := startTLSKafka(t, tlsDir, "alice", scramPW, "bob", plainPW)
	s3 := opsStartS3(t, "S3_TLS_CERT="+filepath.Join(tlsDir, "server.pem"), "S3_TLS_KEY="+filepath.Join(tlsDir, "server.key"))

	// The env: topic on the own Kafka (admin over its PLAINTEXT listener),
	// bucket on the HTTPS server.
	name := fmt.Sprintf("tls-%d", time.Now().UnixNano()%1e9)
	e := &env{t: t, name: name, topic: "hits-" + name, group: "hitexport-" + name, parts: 2,
		client: &kafka.Client{Addr: kafka.TCP(k.plain), Timeout: 20 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := retry(ctx, func() error {
		resp, err := e.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: e.topic, NumPartitions: 2, ReplicationFactor: 1}}})
		if err != nil {
			return err
		}
		return resp.Errors[e.topic]
	}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	b, err := store.NewS3(store.S3Options{Endpoint: s3.addr, Bucket: "b" + name, AccessKey: accessKey, SecretKey: secretKey,
		Region: "us-east-1", TLS: true, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return b.MakeBucket(ctx) }); err != nil {
		t.Fatalf("make bucket over HTTPS: %v", err)
	}
	e.bucket = b

	good := map[string]string{
		"HITEXPORT_KAFKA_BROKERS": k.sasl, "HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_CA_FILE": ca,
		"HITEXPORT_KAFKA_SASL_MECHANISM": "scram-sha-256", "HITEXPORT_KAFKA_SASL_USERNAME": "alice", "HITEXPORT_KAFKA_SASL_PASSWORD": scramPW,
		"HITEXPORT_S3_ENDPOINT": s3.addr, "HITEXPORT_S3_TLS": "true", "HITEXPORT_S3_CA_FILE": ca,
	}
	with := func(changes ...string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i+1 < len(changes); i += 2 {
			m[changes[i]] = changes[i+1]
		}
		return m
	}
	noSecrets := func(t *testing.T, out string) {
		t.Helper()
		for _, pw := range []string{scramPW, plainPW, wrongPW, secretKey} {
			if strings.Contains(out, pw) {
				t.Errorf("a password or secret key appears in the output:\n%s", out)
			}
		}
	}
	check := func(t *testing.T, extra map[string]string, wantCode int, want ...string) string {
		t.Helper()
		stdout, stderr, code := e.opsRun(extra, "check")
		out := stdout + stderr
		noSecrets(t, out)
		if code != wantCode {
			t.Fatalf("check: exit %d, want %d\n%s", code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("check output lacks %q:\n%s", w, out)
			}
		}
		return out
	}

	t.Run("check-scram-sha-256-and-s3-https", func(t *testing.T) {
		check(t, good, 0, "ok   kafka", "ok   s3-write")
	})
	t.Run("check-scram-sha-512", func(t *testing.T) {
		check(t, with("HITEXPORT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"), 0, "ok   kafka")
	})
	t.Run("check-plain-password-file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(f, []byte(plainPW+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		extra := with("HITEXPORT_KAFKA_SASL_MECHANISM", "plain", "HITEXPORT_KAFKA_SASL_USERNAME", "bob", "HITEXPORT_KAFKA_SASL_PASSWORD_FILE", f)
		delete(extra, "HITEXPORT_KAFKA_SASL_PASSWORD")
		check(t, extra, 0, "ok   kafka")
	})
	t.Run("check-client-certificate", func(t *testing.T) {
		extra := with("HITEXPORT_KAFKA_BROKERS", k.ssl, "HITEXPORT_KAFKA_SASL_MECHANISM", "none", "HITEXPORT_KAFKA_SASL_USERNAME", "", "HITEXPORT_KAFKA_SASL_PASSWORD", "",
			"HITEXPORT_KAFKA_TLS_CERT_FILE", filepath.Join(tlsDir, "client.pem"), "HITEXPORT_KAFKA_TLS_KEY_FILE", filepath.Join(tlsDir, "client.key"))
		check(t, extra, 0, "ok   kafka")
		delete(extra, "HITEXPORT_KAFKA_TLS_CERT_FILE")
		delete(extra, "HITEXPORT_KAFKA_TLS_KEY_FILE")
		check(t, extra, 1, "FAIL kafka", "client certificate", "HITEXPORT_KAFKA_TLS_CERT_FILE")
	})
	t.Run("wrong-kafka-ca", func(t *testing.T) {
		check(t, with("HITEXPORT_KAFKA_CA_FILE", otherCA), 1, "FAIL kafka", "unknown authority", "HITEXPORT_KAFKA_CA_FILE")
	})
	t.Run("wrong-password", func(t *testing.T) {
		check(t, with("HITEXPORT_KAFKA_SASL_PASSWORD", wrongPW), 1, "FAIL kafka", "SASL Authentication", "HITEXPORT_KAFKA_SASL_PASSWORD")
		check(t, with("HITEXPORT_KAFKA_SASL_MECHANISM", "plain", "HITEXPORT_KAFKA_SASL_USERNAME", "bob", "HITEXPORT_KAFKA_SASL_PASSWORD", wrongPW),
			1, "FAIL kafka", "SASL Authentication")
	})
	t.Run("tls-to-plaintext-listener", func(t *testing.T) {
		check(t, with("HITEXPORT_KAFKA_BROKERS", k.plain), 1, "FAIL kafka", "HITEXPORT_KAFKA_TLS")
	})
	t.Run("wrong-s3-ca", func(t *testing.T) {
		check(t, with("HITEXPORT_S3_CA_FILE", otherCA), 1, "ok   kafka", "FAIL s3", "certificate")
	})
	t.Run("config-errors", func(t *testing.T) {
		notPEM := filepath.Join(t.TempDir(), "x.pem")
		_ = os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
		for _, c := range []struct {
			extra map[string]string
			want  string
		}{
			{with("HITEXPORT_KAFKA_SASL_MECHANISM", "gssapi"), "HITEXPORT_KAFKA_SASL_MECHANISM: unknown \"gssapi\""},
			{with("HITEXPORT_KAFKA_SASL_PASSWORD", ""), "HITEXPORT_KAFKA_SASL_PASSWORD: required"},
			{with("HITEXPORT_KAFKA_CA_FILE", "/nonexistent/ca.pem"), "HITEXPORT_KAFKA_CA_FILE: cannot read"},
			{with("HITEXPORT_KAFKA_CA_FILE", notPEM), "HITEXPORT_KAFKA_CA_FILE: the file holds no PEM certificate"},
			{with("HITEXPORT_KAFKA_TLS", "false"), "HITEXPORT_KAFKA_CA_FILE: set, but HITEXPORT_KAFKA_TLS is false"},
			{with("HITEXPORT_KAFKA_TLS_CERT_FILE", filepath.Join(tlsDir, "client.pem")), "HITEXPORT_KAFKA_TLS_KEY_FILE: required"},
			{with("HITEXPORT_KAFKA_TLS_CERT_FILE", filepath.Join(tlsDir, "client.pem"), "HITEXPORT_KAFKA_TLS_KEY_FILE", filepath.Join(tlsDir, "server.key")), "HITEXPORT_KAFKA_TLS_CERT_FILE: with HITEXPORT_KAFKA_TLS_KEY_FILE not a usable"},
			{with("HITEXPORT_S3_CA_FILE", notPEM), "HITEXPORT_S3_CA_FILE: the file holds no PEM certificate"},
			{with("HITEXPORT_S3_TLS", "false"), "HITEXPORT_S3_CA_FILE: set, but HITEXPORT_S3_TLS is false"},
		} {
			stdout, stderr, code := e.opsRun(c.extra, "check")
			out := stdout + stderr
			noSecrets(t, out)
			if code != 2 || !strings.Contains(out, c.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("want exit 2 and one line with %q; got exit %d:\n%s", c.want, code, out)
			}
		}
	})

	t.Run("run-over-tls-and-scram", func(t *testing.T) {
		// Produce over SASL_SSL with the exporter's own Transport.
		cfg, err := config.Parse(map[string]string{
			"HITEXPORT_KAFKA_BROKERS": k.sasl, "HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_CA_FILE": ca,
			"HITEXPORT_KAFKA_SASL_MECHANISM": "scram-sha-512", "HITEXPORT_KAFKA_SASL_USERNAME": "alice", "HITEXPORT_KAFKA_SASL_PASSWORD": scramPW,
			"HITEXPORT_S3_ACCESS_KEY": accessKey, "HITEXPORT_S3_SECRET_KEY": secretKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		ko, err := cli.KafkaOptions(cfg)
		if err != nil || ko.Transport == nil || ko.Dialer == nil || ko.Dialer.TLS == nil || ko.Dialer.SASLMechanism == nil {
			t.Fatalf("KafkaOptions: %v %+v", err, ko)
		}
		recs := gen.Generate(pastHour(71, 1500))
		w := &kafka.Writer{Addr: kafka.TCP(k.sasl), Topic: e.topic, Transport: ko.Transport, Balancer: &kafka.Hash{},
			BatchSize: 500, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
		msgs := make([]kafka.Message, len(recs))
		for i, r := range recs {
			msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer pcancel()
		if err := w.WriteMessages(pctx, msgs...); err != nil {
			t.Fatalf("produce over SASL_SSL: %v", err)
		}
		w.Close()

		x := e.start(good)
		addr := opsHTTPAddr(t, x)
		e.waitCommitted(2*time.Minute, x)
		if r := opsReadyz(t, addr); r.Code != 200 || !r.Joined {
			t.Errorf("/readyz over TLS+SCRAM: %+v", r)
		}
		x.stop(t, 30*time.Second)
		noSecrets(t, x.out.String())
		rep := e.check(recs, 10*time.Minute)
		if !rep.OK() || rep.HitsInBucket != rep.ProducedValid {
			t.Fatalf("run over TLS: %+v\n%s", rep, tail(x.out.String(), 3000))
		}

		// offsets and replay use the same Dialer and Transport.
		stdout, stderr, code := e.opsRun(good, "offsets", "--json")
		var o struct {
			Partitions []struct {
				Committed int64 `json:"committed"`
				End       int64 `json:"end"`
			} `json:"partitions"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &o) != nil || len(o.Partitions) != 2 {
			t.Fatalf("offsets over TLS+SCRAM: exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, p := range o.Partitions {
			if p.Committed != p.End {
				t.Errorf("offsets over TLS: %+v", o)
			}
		}
		stdout, stderr, code = e.opsRun(good, "replay", "--from", "0")
		if code != 0 || !strings.Contains(stdout, ": 0 objects written") || !strings.Contains(stdout, "1500 records") {
			t.Errorf("replay over TLS+SCRAM: exit %d\n%s\n%s", code, stdout, tail(stderr, 2000))
		}
		noSecrets(t, stdout+stderr)
	})

	t.Run("run-with-wrong-password", func(t *testing.T) {
		x := e.start(with("HITEXPORT_KAFKA_SASL_PASSWORD", wrongPW, "HITEXPORT_KAFKA_GROUP", e.group+"-wrong"))
		addr := opsHTTPAddr(t, x)
		opsWait(t, time.Minute, "a log line naming the failed SASL authentication", func() bool {
			return strings.Contains(x.out.String(), "SASL Authentication")
		}, x)
		if r := opsReadyz(t, addr); r.Code != 503 || r.Joined {
			t.Errorf("/readyz with a wrong password: %+v", r)
		}
		x.stop(t, 40*time.Second)
		noSecrets(t, x.out.String())
	})
}
