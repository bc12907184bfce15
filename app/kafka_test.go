package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

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

func TestKafkaOptionsPlainKeepsDefaults(t *testing.T) {
	ko, err := KafkaOptions(parse(t, nil))
	if err != nil || ko.Dialer != nil || ko.Transport != nil {
		t.Fatalf("plain: %v %+v", err, ko)
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

func TestKafkaHint(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("metadata: %w", x509.UnknownAuthorityError{}), "HITEXPORT_KAFKA_CA_FILE"},
		{fmt.Errorf("x: %w", kafka.SASLAuthenticationFailed), "HITEXPORT_KAFKA_SASL_PASSWORD"},
		{fmt.Errorf("x: %w", kafka.UnsupportedSASLMechanism), "HITEXPORT_KAFKA_SASL_MECHANISM"},
		{errors.New("remote error: tls: bad certificate"), "HITEXPORT_KAFKA_TLS_CERT_FILE"},
		{fmt.Errorf("kafka.(*Client).Metadata: %w", io.EOF), "HITEXPORT_KAFKA_TLS"},
		{errors.New("tls: first record does not look like a TLS handshake"), "unset HITEXPORT_KAFKA_TLS"},
	} {
		got := KafkaHint(c.err)
		if !strings.Contains(got.Error(), c.want) || !strings.HasPrefix(got.Error(), c.err.Error()) || !errors.Is(got, c.err) {
			t.Errorf("KafkaHint(%v) = %v; want the error kept and a hint naming %s", c.err, got, c.want)
		}
	}
	plain := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	if KafkaHint(plain) != plain || KafkaHint(nil) != nil {
		t.Errorf("unrelated errors pass unchanged")
	}
}
