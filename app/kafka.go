package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/pipeline"
)

// kafkaDialTimeout bounds a connection attempt, TLS handshake and SASL
// exchange included.
const kafkaDialTimeout = 10 * time.Second

// KafkaOptions builds the Kafka options of the configuration: brokers, topic,
// group, fetch tuning, and — when TLS or SASL is configured — the Dialer used
// by the consumer group and the partition readers and the Transport used by
// the admin client (offset fetch and commit, metadata, list offsets). Without
// TLS and SASL both stay nil and kafka-go's plain-TCP defaults apply.
func KafkaOptions(cfg *config.Config) (pipeline.KafkaOptions, error) {
	ko := pipeline.KafkaOptions{
		Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Group: cfg.KafkaGroup,
		MinBytes: cfg.KafkaMinBytes, MaxBytes: cfg.KafkaMaxBytes, MaxWait: cfg.KafkaMaxWait, Buffer: cfg.FetchBuffer,
		SessionTimeout: cfg.KafkaSessionTimeout,
	}
	tlsCfg, mech, err := kafkaSecurity(cfg)
	if err != nil {
		return ko, err
	}
	if tlsCfg == nil && mech == nil {
		return ko, nil
	}
	ko.Dialer = &kafka.Dialer{
		ClientID:      "hitexport",
		Timeout:       kafkaDialTimeout,
		DualStack:     true,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}
	ko.Transport = &kafka.Transport{
		ClientID:    "hitexport",
		DialTimeout: kafkaDialTimeout,
		Dial:        (&net.Dialer{Timeout: kafkaDialTimeout}).DialContext,
		TLS:         tlsCfg,
		SASL:        mech,
	}
	return ko, nil
}

// KafkaClient is the admin client of the configuration (TLS and SASL
// included), for commands that read metadata, offsets and groups.
func KafkaClient(cfg *config.Config) (*kafka.Client, error) {
	ko, err := KafkaOptions(cfg)
	if err != nil {
		return nil, err
	}
	c := &kafka.Client{Addr: kafka.TCP(cfg.KafkaBrokers...), Timeout: 20 * time.Second}
	if ko.Transport != nil {
		c.Transport = ko.Transport
	}
	return c, nil
}

// kafkaSecurity returns the TLS configuration (nil without KAFKA_TLS) and the
// SASL mechanism (nil for none). Errors name the variable; none contains a
// secret.
func kafkaSecurity(cfg *config.Config) (*tls.Config, sasl.Mechanism, error) {
	var tlsCfg *tls.Config
	if cfg.KafkaTLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.KafkaCAFile != "" {
			pem, err := os.ReadFile(cfg.KafkaCAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("%sKAFKA_CA_FILE: %w", config.Prefix, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("%sKAFKA_CA_FILE: %s holds no PEM certificate", config.Prefix, cfg.KafkaCAFile)
			}
			tlsCfg.RootCAs = pool
		}
		if cfg.KafkaTLSCertFile != "" {
			pair, err := tls.LoadX509KeyPair(cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("%sKAFKA_TLS_CERT_FILE/KEY_FILE: %w", config.Prefix, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
	}
	var mech sasl.Mechanism
	switch cfg.KafkaSASL {
	case config.SASLPlain:
		mech = plain.Mechanism{Username: cfg.KafkaSASLUsername, Password: cfg.KafkaSASLPassword}
	case config.SASLScramSHA256, config.SASLScramSHA512:
		algo := scram.SHA256
		if cfg.KafkaSASL == config.SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, cfg.KafkaSASLUsername, cfg.KafkaSASLPassword)
		if err != nil {
			// SASLprep refused the user name or password; say which
			// without echoing either.
			return nil, nil, fmt.Errorf("%sKAFKA_SASL_USERNAME/PASSWORD: not usable for %s (SASLprep: characters not allowed)", config.Prefix, cfg.KafkaSASL)
		}
		mech = m
	}
	return tlsCfg, mech, nil
}

// KafkaHint adds to a Kafka error the setting an operator most likely has to
// look at: the CA for certificate errors, the SASL credentials for a refused
// authentication, TLS for a broker that closes the connection at once.
func KafkaHint(err error) error {
	if err == nil {
		return nil
	}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &uae), strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("%w (TLS: the broker's certificate is not signed by a CA in %sKAFKA_CA_FILE, or by a system CA when it is unset)", err, config.Prefix)
	case errors.As(err, &hne), errors.As(err, &cie):
		return fmt.Errorf("%w (TLS: the broker's certificate does not fit its address; check %sKAFKA_BROKERS and the certificate's names)", err, config.Prefix)
	case strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "certificate required"), strings.Contains(msg, "tls: unknown certificate"):
		return fmt.Errorf("%w (TLS: the broker refused the client certificate; check %sKAFKA_TLS_CERT_FILE and %sKAFKA_TLS_KEY_FILE)", err, config.Prefix, config.Prefix)
	case errors.As(err, &rhe), strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("%w (TLS: the listener does not speak TLS; unset %sKAFKA_TLS or use the broker's SSL/SASL_SSL port)", err, config.Prefix)
	case errors.Is(err, kafka.SASLAuthenticationFailed), strings.Contains(msg, "SASL Authentication Failed"):
		return fmt.Errorf("%w (SASL: check %sKAFKA_SASL_USERNAME, %sKAFKA_SASL_PASSWORD and %sKAFKA_SASL_MECHANISM)", err, config.Prefix, config.Prefix, config.Prefix)
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("%w (SASL: the listener does not enable %sKAFKA_SASL_MECHANISM)", err, config.Prefix)
	case errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("%w (SASL: the listener may not expect SASL; check the port and %sKAFKA_SASL_MECHANISM)", err, config.Prefix)
	case errors.Is(err, io.EOF), strings.HasSuffix(msg, ": EOF"):
		return fmt.Errorf("%w (the broker closed the connection: check that %sKAFKA_TLS and %sKAFKA_SASL_MECHANISM match the listener at %sKAFKA_BROKERS)", err, config.Prefix, config.Prefix, config.Prefix)
	}
	return err
}
