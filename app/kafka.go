package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
)

// KafkaConn is how to reach the brokers of the configuration: brokers,
// client id, TLS and SASL.
func KafkaConn(cfg *config.Config) (kafkaadmin.Conn, error) {
	tlsCfg, mech, err := kafkaSecurity(cfg)
	if err != nil {
		return kafkaadmin.Conn{}, err
	}
	return kafkaadmin.Conn{Brokers: cfg.KafkaBrokers, ClientID: cfg.KafkaClientID, TLS: tlsCfg, SASL: mech}, nil
}

// KafkaOptions builds the Kafka options of the configuration: brokers, topic,
// group, fetch tuning, and the Dialer used by the consumer group and the
// partition readers and the Transport used by the admin client (offset fetch
// and commit, metadata, list offsets), both with the client id and, when
// configured, TLS and SASL.
func KafkaOptions(cfg *config.Config) (pipeline.KafkaOptions, error) {
	ko := pipeline.KafkaOptions{
		Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Group: cfg.KafkaGroup,
		MinBytes: cfg.KafkaMinBytes, MaxBytes: cfg.KafkaMaxBytes, MaxWait: cfg.KafkaMaxWait, Buffer: cfg.FetchBuffer,
		SessionTimeout: cfg.KafkaSessionTimeout,
	}
	conn, err := KafkaConn(cfg)
	if err != nil {
		return ko, err
	}
	ko.Dialer, ko.Transport = conn.Dialer(), conn.Transport()
	return ko, nil
}

// KafkaClient is the admin client of the configuration (client id, TLS and
// SASL included), for commands that read metadata, offsets and groups.
func KafkaClient(cfg *config.Config) (*kafka.Client, error) {
	conn, err := KafkaConn(cfg)
	if err != nil {
		return nil, err
	}
	return conn.Client(20 * time.Second), nil
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
// look at (kafkaadmin.Hint).
func KafkaHint(err error) error { return kafkaadmin.Hint(err) }
