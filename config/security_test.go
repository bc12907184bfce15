package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid configuration; security settings are added per case.
func base(extra map[string]string) map[string]string {
	m := map[string]string{"HITEXPORT_S3_ACCESS_KEY": "ak", "HITEXPORT_S3_SECRET_KEY": "sk"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// testPKI makes a CA, a self-signed client certificate and an unrelated key
// with openssl.
func testPKI(t *testing.T) (ca, cert, key, otherKey string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed for this test: %v", err)
	}
	dir := t.TempDir()
	run := func(args ...string) {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	ca, cert, key, otherKey = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key"), filepath.Join(dir, "o.key")
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(dir, "ca.key"), "-out", ca, "-days", "1", "-subj", "/CN=ca")
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=c")
	run("genpkey", "-algorithm", "RSA", "-out", otherKey)
	return
}

func TestKafkaSecurityValid(t *testing.T) {
	ca, cert, key, _ := testPKI(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"defaults":       {},
		"tls":            {"HITEXPORT_KAFKA_TLS": "true"},
		"tls ca cert":    {"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_CA_FILE": ca, "HITEXPORT_KAFKA_TLS_CERT_FILE": cert, "HITEXPORT_KAFKA_TLS_KEY_FILE": key},
		"scram upper":    {"HITEXPORT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD": "p"},
		"plain pw file":  {"HITEXPORT_KAFKA_SASL_MECHANISM": "plain", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD_FILE": pwFile},
		"s3 tls with ca": {"HITEXPORT_S3_TLS": "true", "HITEXPORT_S3_CA_FILE": ca},
	} {
		cfg, err := Parse(base(env))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch name {
		case "defaults":
			if cfg.KafkaSASL != SASLNone || cfg.KafkaTLS {
				t.Errorf("defaults: sasl %q tls %v", cfg.KafkaSASL, cfg.KafkaTLS)
			}
		case "scram upper":
			if cfg.KafkaSASL != SASLScramSHA512 {
				t.Errorf("mechanism not normalised: %q", cfg.KafkaSASL)
			}
		case "plain pw file":
			if cfg.KafkaSASLPassword != "s3cr3t-from-file" {
				t.Errorf("password from file: %q", cfg.KafkaSASLPassword)
			}
			if red := cfg.Redacted(); red["kafka_sasl_password"] != "[redacted]" {
				t.Errorf("redacted: %v", red["kafka_sasl_password"])
			}
		}
	}
}

func TestKafkaSecurityErrors(t *testing.T) {
	ca, cert, _, otherKey := testPKI(t)
	notPEM := filepath.Join(t.TempDir(), "x")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	const pw = "Sup3r-Secret-pw"
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HITEXPORT_KAFKA_TLS": "yes please"}, "HITEXPORT_KAFKA_TLS: invalid value: expected true or false"},
		{map[string]string{"HITEXPORT_KAFKA_CA_FILE": ca}, "HITEXPORT_KAFKA_CA_FILE: set, but HITEXPORT_KAFKA_TLS is false"},
		{map[string]string{"HITEXPORT_KAFKA_TLS_CERT_FILE": cert}, "HITEXPORT_KAFKA_TLS_CERT_FILE: set, but HITEXPORT_KAFKA_TLS is false"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_CA_FILE": "/no/such/ca.pem"}, "HITEXPORT_KAFKA_CA_FILE: cannot read the file it names: no such file or directory"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_CA_FILE": notPEM}, "HITEXPORT_KAFKA_CA_FILE: the file holds no PEM certificate"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_TLS_CERT_FILE": cert}, "HITEXPORT_KAFKA_TLS_KEY_FILE: required when HITEXPORT_KAFKA_TLS_CERT_FILE is set"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_TLS_KEY_FILE": otherKey}, "HITEXPORT_KAFKA_TLS_CERT_FILE: required when HITEXPORT_KAFKA_TLS_KEY_FILE is set"},
		{map[string]string{"HITEXPORT_KAFKA_TLS": "true", "HITEXPORT_KAFKA_TLS_CERT_FILE": cert, "HITEXPORT_KAFKA_TLS_KEY_FILE": otherKey}, "HITEXPORT_KAFKA_TLS_CERT_FILE: with HITEXPORT_KAFKA_TLS_KEY_FILE not a usable PEM certificate and key pair"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "gssapi"}, `HITEXPORT_KAFKA_SASL_MECHANISM: unknown "gssapi": accepted none, plain, scram-sha-256, scram-sha-512`},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "plain", "HITEXPORT_KAFKA_SASL_PASSWORD": pw}, "HITEXPORT_KAFKA_SASL_USERNAME: required with HITEXPORT_KAFKA_SASL_MECHANISM=plain"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "scram-sha-256", "HITEXPORT_KAFKA_SASL_USERNAME": "u"}, "HITEXPORT_KAFKA_SASL_PASSWORD: required with HITEXPORT_KAFKA_SASL_MECHANISM=scram-sha-256"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_PASSWORD": pw}, "HITEXPORT_KAFKA_SASL_PASSWORD: set, but HITEXPORT_KAFKA_SASL_MECHANISM is none"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_USERNAME": "u"}, "HITEXPORT_KAFKA_SASL_USERNAME: set, but HITEXPORT_KAFKA_SASL_MECHANISM is none"},
		{map[string]string{"HITEXPORT_KAFKA_SASL_MECHANISM": "plain", "HITEXPORT_KAFKA_SASL_USERNAME": "u", "HITEXPORT_KAFKA_SASL_PASSWORD_FILE": "/no/such/pw"}, "HITEXPORT_KAFKA_SASL_PASSWORD_FILE: cannot read the file it names"},
		{map[string]string{"HITEXPORT_S3_CA_FILE": ca}, "HITEXPORT_S3_CA_FILE: set, but HITEXPORT_S3_TLS is false"},
		{map[string]string{"HITEXPORT_S3_TLS": "true", "HITEXPORT_S3_CA_FILE": notPEM}, "HITEXPORT_S3_CA_FILE: the file holds no PEM certificate"},
	} {
		_, err := Parse(base(c.env))
		if err == nil {
			t.Errorf("%v: accepted", c.env)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.want) {
			t.Errorf("%v:\n got %q\nwant %q…", c.env, msg, c.want)
		}
		if strings.Contains(msg, pw) || strings.Contains(msg, "\n") {
			t.Errorf("error must be one line without the password: %q", msg)
		}
	}
}
