package kafkaadmin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestClassify pins the classification of Kafka errors.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Class
	}{
		{nil, ClassOther},
		{fmt.Errorf("metadata: %w", x509.UnknownAuthorityError{}), ClassTLSUnknownCA},
		{errors.New("x509: certificate signed by unknown authority"), ClassTLSUnknownCA},
		{fmt.Errorf("dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "kafka"}), ClassTLSName},
		{fmt.Errorf("dial: %w", x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}), ClassTLSName},
		{errors.New("remote error: tls: bad certificate"), ClassTLSClientCert},
		{errors.New("remote error: tls: certificate required"), ClassTLSClientCert},
		{errors.New("remote error: tls: unknown certificate"), ClassTLSClientCert},
		{fmt.Errorf("dial: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ClassNotTLS},
		{errors.New("tls: first record does not look like a TLS handshake"), ClassNotTLS},
		{fmt.Errorf("x: %w", kafka.SASLAuthenticationFailed), ClassSASLAuth},
		{kafka.SASLAuthenticationFailed, ClassSASLAuth},
		{fmt.Errorf("x: %w", kafka.UnsupportedSASLMechanism), ClassSASLMechanism},
		{fmt.Errorf("x: %w", kafka.IllegalSASLState), ClassSASLState},
		{kafka.UnknownMemberId, ClassMembership},
		{kafka.IllegalGeneration, ClassMembership},
		{fmt.Errorf("commit: %w", kafka.RebalanceInProgress), ClassMembership},
		{kafka.NonEmptyGroup, ClassMembership},
		{kafka.UnknownTopicOrPartition, ClassUnknownTopic},
		{fmt.Errorf("topic %q: %w", "t", ErrUnknownTopic), ClassUnknownTopic},
		{fmt.Errorf("kafka.(*Client).Metadata: %w", io.EOF), ClassClosed},
		{errors.New("read tcp 1.2.3.4:9093: EOF"), ClassClosed},
		{errors.New("unexpected EOF"), ClassOther},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ClassOther},
		{kafka.OffsetOutOfRange, ClassOther},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestHint(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("metadata: %w", x509.UnknownAuthorityError{}), "HITEXPORT_KAFKA_CA_FILE"},
		{fmt.Errorf("x: %w", kafka.SASLAuthenticationFailed), "HITEXPORT_KAFKA_SASL_PASSWORD"},
		{fmt.Errorf("x: %w", kafka.UnsupportedSASLMechanism), "HITEXPORT_KAFKA_SASL_MECHANISM"},
		{fmt.Errorf("x: %w", kafka.IllegalSASLState), "may not expect SASL"},
		{errors.New("remote error: tls: bad certificate"), "HITEXPORT_KAFKA_TLS_CERT_FILE"},
		{fmt.Errorf("kafka.(*Client).Metadata: %w", io.EOF), "HITEXPORT_KAFKA_TLS"},
		{errors.New("tls: first record does not look like a TLS handshake"), "unset HITEXPORT_KAFKA_TLS"},
	} {
		got := Hint(c.err)
		if !strings.Contains(got.Error(), c.want) || !strings.HasPrefix(got.Error(), c.err.Error()) || !errors.Is(got, c.err) {
			t.Errorf("Hint(%v) = %v; want the error kept and a hint naming %s", c.err, got, c.want)
		}
	}
	plain := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	if Hint(plain) != plain || Hint(nil) != nil {
		t.Errorf("unrelated errors pass unchanged")
	}
	if err := fmt.Errorf("c: %w", kafka.UnknownMemberId); Hint(err) != err {
		t.Errorf("membership errors pass unchanged")
	}
}

func TestConnClientID(t *testing.T) {
	c := Conn{Brokers: []string{"b:9092"}}
	id := DefaultClientID()
	if !strings.HasPrefix(id, "hitexport-") || strings.Contains(id, "(kafka-go)") {
		t.Fatalf("default client id %q", id)
	}
	if c.Dialer().ClientID != id || c.Transport().ClientID != id {
		t.Errorf("default client id not set on dialer/transport: %q %q", c.Dialer().ClientID, c.Transport().ClientID)
	}
	c.ClientID = "replica-7"
	if c.Dialer().ClientID != "replica-7" || c.Transport().ClientID != "replica-7" {
		t.Errorf("configured client id not used")
	}
	if c.Dialer().TLS != nil || c.Dialer().SASLMechanism != nil || c.Transport().TLS != nil {
		t.Errorf("plain connection got security")
	}
	cl := c.Client(0)
	if cl.Transport == nil {
		t.Errorf("client without transport")
	}
}
