package kafkaadmin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/segmentio/kafka-go"
)

// envPrefix is the configuration's variable prefix (config.Prefix; this
// package does not import config).
const envPrefix = "HITEXPORT_"

// Class is what an operator has to look at for a Kafka error.
type Class string

// The classes of Classify.
const (
	ClassOther         Class = ""
	ClassTLSUnknownCA  Class = "tls-unknown-ca"    // the broker's certificate is not signed by a trusted CA
	ClassTLSName       Class = "tls-name"          // the certificate does not fit the broker's address
	ClassTLSClientCert Class = "tls-client-cert"   // the broker refused the client certificate
	ClassNotTLS        Class = "not-tls"           // the listener does not speak TLS
	ClassSASLAuth      Class = "sasl-auth"         // wrong credentials
	ClassSASLMechanism Class = "sasl-mechanism"    // mechanism not enabled on the listener
	ClassSASLState     Class = "sasl-state"        // the listener does not expect SASL
	ClassClosed        Class = "connection-closed" // the broker hung up at once (TLS/SASL mismatch)
	ClassMembership    Class = "group-membership"  // the group's membership refused a commit
	ClassUnknownTopic  Class = "unknown-topic"     // the topic does not exist
)

// Classify sorts a Kafka error: by kafka-go's error codes (kafka.Error) and
// Go's TLS and x509 error types where they exist, by message only for TLS
// alerts sent by the broker (they arrive as an unexported type) and for
// errors that lost their type on the way.
func Classify(err error) Class {
	if err == nil {
		return ClassOther
	}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &uae), strings.Contains(msg, "certificate signed by unknown authority"):
		return ClassTLSUnknownCA
	case errors.As(err, &hne), errors.As(err, &cie):
		return ClassTLSName
	case strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "certificate required"), strings.Contains(msg, "tls: unknown certificate"):
		return ClassTLSClientCert
	case errors.As(err, &rhe), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return ClassNotTLS
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return ClassSASLAuth
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return ClassSASLMechanism
	case errors.Is(err, kafka.IllegalSASLState):
		return ClassSASLState
	case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration), errors.Is(err, kafka.RebalanceInProgress),
		errors.Is(err, kafka.FencedInstanceID), errors.Is(err, kafka.NonEmptyGroup):
		return ClassMembership
	case errors.Is(err, kafka.UnknownTopicOrPartition), errors.Is(err, ErrUnknownTopic):
		return ClassUnknownTopic
	case errors.Is(err, io.EOF), strings.HasSuffix(msg, ": EOF"):
		return ClassClosed
	}
	return ClassOther
}

// Hint adds to a Kafka error the setting an operator most likely has to look
// at: the CA for certificate errors, the SASL credentials for a refused
// authentication, TLS for a broker that closes the connection at once. Other
// errors pass unchanged.
func Hint(err error) error {
	p := envPrefix
	switch Classify(err) {
	case ClassTLSUnknownCA:
		return fmt.Errorf("%w (TLS: the broker's certificate is not signed by a CA in %sKAFKA_CA_FILE, or by a system CA when it is unset)", err, p)
	case ClassTLSName:
		return fmt.Errorf("%w (TLS: the broker's certificate does not fit its address; check %sKAFKA_BROKERS and the certificate's names)", err, p)
	case ClassTLSClientCert:
		return fmt.Errorf("%w (TLS: the broker refused the client certificate; check %sKAFKA_TLS_CERT_FILE and %sKAFKA_TLS_KEY_FILE)", err, p, p)
	case ClassNotTLS:
		return fmt.Errorf("%w (TLS: the listener does not speak TLS; unset %sKAFKA_TLS or use the broker's SSL/SASL_SSL port)", err, p)
	case ClassSASLAuth:
		return fmt.Errorf("%w (SASL: check %sKAFKA_SASL_USERNAME, %sKAFKA_SASL_PASSWORD and %sKAFKA_SASL_MECHANISM)", err, p, p, p)
	case ClassSASLMechanism:
		return fmt.Errorf("%w (SASL: the listener does not enable %sKAFKA_SASL_MECHANISM)", err, p)
	case ClassSASLState:
		return fmt.Errorf("%w (SASL: the listener may not expect SASL; check the port and %sKAFKA_SASL_MECHANISM)", err, p)
	case ClassClosed:
		return fmt.Errorf("%w (the broker closed the connection: check that %sKAFKA_TLS and %sKAFKA_SASL_MECHANISM match the listener at %sKAFKA_BROKERS)", err, p, p, p)
	}
	return err
}
