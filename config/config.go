// Package config reads and checks hitexport's settings from the environment.
//
// Every setting is an environment variable with the prefix HITEXPORT_. Parse
// fills defaults, converts types and runs Validate; any error names the
// variable and the values it accepts, in one line, and never contains a secret.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
)

// Prefix is the prefix of every variable.
const Prefix = "HITEXPORT_"

// Config is every setting of the exporter. Field comments are the docs; the
// README's table repeats them.
type Config struct {
	// Kafka
	KafkaBrokers  []string      `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092"`
	KafkaTopic    string        `env:"KAFKA_TOPIC" envDefault:"hits"`
	KafkaGroup    string        `env:"KAFKA_GROUP" envDefault:"hitexport"`
	KafkaMinBytes int           `env:"KAFKA_MIN_BYTES" envDefault:"65536"`
	KafkaMaxBytes int           `env:"KAFKA_MAX_BYTES" envDefault:"16777216"`
	KafkaMaxWait  time.Duration `env:"KAFKA_MAX_WAIT" envDefault:"250ms"`
	// CommitInterval: the partitions do not wait for their offset commits
	// (each after its upload); a process sends a group's commits in one
	// request at most once per interval (a quiet partition's at once); at
	// most one commit per partition in flight. 0: every upload's commit is
	// made before its partition reads on.
	CommitInterval time.Duration `env:"COMMIT_INTERVAL" envDefault:"1s"`

	// Kafka security: TLS (with an optional private CA and client
	// certificate) and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
	KafkaTLS          bool   `env:"KAFKA_TLS" envDefault:"false"`
	KafkaCAFile       string `env:"KAFKA_CA_FILE"`
	KafkaTLSCertFile  string `env:"KAFKA_TLS_CERT_FILE"`
	KafkaTLSKeyFile   string `env:"KAFKA_TLS_KEY_FILE"`
	KafkaSASL         string `env:"KAFKA_SASL_MECHANISM" envDefault:"none"`
	KafkaSASLUsername string `env:"KAFKA_SASL_USERNAME"`
	KafkaSASLPassword string `env:"KAFKA_SASL_PASSWORD"`
	// KafkaSessionTimeout: a member that stops heartbeating (crashed, frozen)
	// loses its partitions after this long; the broker bounds it
	// (group.min/max.session.timeout.ms, 6s–30m by default).
	KafkaSessionTimeout time.Duration `env:"KAFKA_SESSION_TIMEOUT" envDefault:"30s"`
	// KafkaClientID is the client id the brokers see (and
	// kafka-consumer-groups --describe --members shows); empty:
	// hitexport-<host name>-<process id>, so every replica differs.
	KafkaClientID string `env:"KAFKA_CLIENT_ID"`

	// S3
	S3Endpoint  string `env:"S3_ENDPOINT" envDefault:"127.0.0.1:9000"`
	S3Bucket    string `env:"S3_BUCKET" envDefault:"hits"`
	S3AccessKey string `env:"S3_ACCESS_KEY"`
	S3SecretKey string `env:"S3_SECRET_KEY"`
	S3TLS       bool   `env:"S3_TLS" envDefault:"false"`
	S3Region    string `env:"S3_REGION" envDefault:"us-east-1"`
	S3CAFile    string `env:"S3_CA_FILE"`
	// Server-side encryption of every object: none, s3 (SSE-S3) or kms
	// (SSE-KMS, with S3_SSE_KMS_KEY_ID or the bucket's default key).
	S3SSE         string `env:"S3_SSE" envDefault:"none"`
	S3SSEKMSKeyID string `env:"S3_SSE_KMS_KEY_ID"`
	// STS AssumeRole: with S3_ROLE_ARN the exporter writes with the role's
	// temporary credentials, obtained with S3_ACCESS_KEY/S3_SECRET_KEY and
	// renewed before they expire.
	S3RoleARN         string `env:"S3_ROLE_ARN"`
	S3ExternalID      string `env:"S3_EXTERNAL_ID"`
	S3RoleSessionName string `env:"S3_ROLE_SESSION_NAME" envDefault:"hitexport"`
	S3STSEndpoint     string `env:"S3_STS_ENDPOINT"`

	// Output
	Format      string `env:"FORMAT" envDefault:"ndjson"`
	Compression string `env:"COMPRESSION" envDefault:"none"`
	KeyPrefix   string `env:"KEY_PREFIX" envDefault:""`
	// KeyTemplate is the key after the prefix: folders of placeholders,
	// then hitlogs-{timestamp}{ext} (pipeline.KeyTemplate).
	KeyTemplate string `env:"KEY_TEMPLATE" envDefault:"hitlogs-{timestamp}{ext}"`
	// Layout: "window" (the default: one object per window, merged from
	// staged parts; docs/objects.md) or "partition" (an object per window,
	// partition and flush; for very high volume). MergeInterval is the
	// window layout's sweep period.
	Layout        string        `env:"LAYOUT" envDefault:"window"`
	MergeInterval time.Duration `env:"MERGE_INTERVAL" envDefault:"30s"`
	// MergedRetention: the window layout keeps a window's done records and
	// offsets indexes this long after its last merge (docs/objects.md,
	// "Retention").
	MergedRetention time.Duration `env:"MERGED_RETENTION" envDefault:"168h"`

	// Windows
	Window          time.Duration `env:"WINDOW" envDefault:"10m"`
	AllowedLateness time.Duration `env:"ALLOWED_LATENESS" envDefault:"1m"`
	IdleTimeout     time.Duration `env:"IDLE_TIMEOUT" envDefault:"1m"`
	LateMaxAge      time.Duration `env:"LATE_MAX_AGE" envDefault:"10m"`
	MaxFuture       time.Duration `env:"MAX_FUTURE" envDefault:"1h"`

	// Limits
	MaxRecordBytes int    `env:"MAX_RECORD_BYTES" envDefault:"1048576"`
	MaxObjectBytes int64  `env:"MAX_OBJECT_BYTES" envDefault:"536870912"`
	MaxOpenObjects int    `env:"MAX_OPEN_OBJECTS" envDefault:"32"`
	SpoolMemory    int    `env:"SPOOL_MEMORY" envDefault:"4194304"`
	SpoolDir       string `env:"SPOOL_DIR" envDefault:""`
	FetchBuffer    int    `env:"FETCH_BUFFER" envDefault:"1000"`

	// Failure handling
	RetrySchedule    string        `env:"RETRY_SCHEDULE" envDefault:"1s,3s,5s,10s,10s;0s,1s,3s,5s,30s;1m,1m,3m,5m,10m,30m"`
	FailureThreshold float64       `env:"FAILURE_THRESHOLD" envDefault:"0.6"`
	FailureWindow    time.Duration `env:"FAILURE_WINDOW" envDefault:"12h"`
	ShutdownTimeout  time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`
	// AutoDisableAfter: an integration is auto-disabled (kafka and file
	// registries) only when FAILURE_THRESHOLD of its attempts failed within
	// FAILURE_WINDOW and none succeeded for this long (at most
	// FAILURE_WINDOW: a longer value counts as FAILURE_WINDOW).
	AutoDisableAfter time.Duration `env:"AUTO_DISABLE_AFTER" envDefault:"1h"`

	// Integrations: where they are defined and the admin API that manages
	// them. REGISTRY is env (the S3_* and FORMAT variables are the one
	// integration "default"), kafka (a compacted topic, managed through the
	// admin API) or file:PATH (YAML, read-only, reloaded on change).
	Registry          string `env:"REGISTRY" envDefault:"env"`
	RegistryTopic     string `env:"REGISTRY_TOPIC" envDefault:"hitexport.integrations"`
	SecretsKeyFile    string `env:"SECRETS_KEY_FILE"`
	AdminAddr         string `env:"ADMIN_ADDR"`
	AdminTokenFile    string `env:"ADMIN_TOKEN_FILE"`
	AdminAllowNoToken bool   `env:"ADMIN_ALLOW_NO_TOKEN" envDefault:"false"`

	// Operations
	HTTPAddr  string `env:"HTTP_ADDR" envDefault:":8080"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`

	// Derived by Parse.
	Retry [][]time.Duration `env:"-"`
}

// Error is a configuration error; its message is one line naming the variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return Prefix + e.Var + ": " + e.Msg }

// Parse reads the configuration from environ (os.Environ() when nil).
func Parse(environ map[string]string) (*Config, error) {
	cfg := &Config{}
	opts := env.Options{Prefix: Prefix}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return nil, translate(err)
	}
	for _, name := range []string{"S3_ACCESS_KEY", "S3_SECRET_KEY", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} {
		if err := fromFile(cfg, name, environ); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// fromFile fills a secret from the file named by NAME_FILE when NAME is unset.
func fromFile(cfg *Config, name string, environ map[string]string) error {
	lookup := func(k string) string {
		if environ != nil {
			return environ[k]
		}
		return os.Getenv(k)
	}
	path := lookup(Prefix + name + "_FILE")
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{Var: name + "_FILE", Msg: "cannot read the file it names: " + errors.Unwrap(err).Error()}
	}
	v := strings.TrimRight(string(b), "\r\n")
	switch name {
	case "S3_ACCESS_KEY":
		cfg.S3AccessKey = v
	case "S3_SECRET_KEY":
		cfg.S3SecretKey = v
	case "KAFKA_SASL_USERNAME":
		cfg.KafkaSASLUsername = v
	case "KAFKA_SASL_PASSWORD":
		cfg.KafkaSASLPassword = v
	}
	return nil
}

// translate turns env's errors, which name struct fields and may quote values,
// into one line naming the variable and the expected type.
func translate(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		v := varOf(pe.Name)
		return &Error{Var: v, Msg: "invalid value: expected " + typeWord(pe.Type)}
	}
	return fmt.Errorf("configuration: %v", err)
}

func varOf(field string) string {
	f, ok := reflect.TypeOf(Config{}).FieldByName(field)
	if !ok {
		return field
	}
	return strings.Split(f.Tag.Get("env"), ",")[0]
}

func typeWord(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "a duration such as 30s, 10m or 1h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a value of type " + t.String()
}

// Validate checks every setting and fills derived fields.
func (c *Config) Validate() error {
	bad := func(v, msg string) error { return &Error{Var: v, Msg: msg} }
	if len(c.KafkaBrokers) == 0 || c.KafkaBrokers[0] == "" {
		return bad("KAFKA_BROKERS", "required: a comma-separated list of host:port")
	}
	for _, b := range c.KafkaBrokers {
		if !strings.Contains(b, ":") {
			return bad("KAFKA_BROKERS", "each broker must be host:port")
		}
	}
	if c.KafkaTopic == "" {
		return bad("KAFKA_TOPIC", "required: the topic to export")
	}
	if c.KafkaGroup == "" {
		return bad("KAFKA_GROUP", "required: the consumer group id")
	}
	if c.KafkaMinBytes < 1 {
		return bad("KAFKA_MIN_BYTES", "must be at least 1")
	}
	if c.KafkaMaxBytes < c.MaxRecordBytes {
		return bad("KAFKA_MAX_BYTES", "must be at least HITEXPORT_MAX_RECORD_BYTES")
	}
	if c.KafkaMaxWait <= 0 {
		return bad("KAFKA_MAX_WAIT", "must be a positive duration")
	}
	if c.CommitInterval < 0 || c.CommitInterval > time.Minute {
		return bad("COMMIT_INTERVAL", "must be a duration from 0 to 1m (0: commit after each upload before reading on)")
	}
	if c.KafkaSessionTimeout < time.Second || c.KafkaSessionTimeout > 30*time.Minute {
		return bad("KAFKA_SESSION_TIMEOUT", "must be a duration from 1s to 30m (the broker allows 6s to 30m by default)")
	}
	if err := c.validateKafkaSecurity(); err != nil {
		return err
	}
	if c.S3Endpoint == "" || strings.Contains(c.S3Endpoint, "/") {
		return bad("S3_ENDPOINT", "required: host or host:port, without scheme or path (TLS is HITEXPORT_S3_TLS)")
	}
	if c.S3Bucket == "" {
		return bad("S3_BUCKET", "required: the bucket name")
	}
	if c.S3AccessKey == "" {
		return bad("S3_ACCESS_KEY", "required (or HITEXPORT_S3_ACCESS_KEY_FILE)")
	}
	if c.S3SecretKey == "" {
		return bad("S3_SECRET_KEY", "required (or HITEXPORT_S3_SECRET_KEY_FILE)")
	}
	if c.S3CAFile != "" {
		if !c.S3TLS {
			return bad("S3_CA_FILE", "set, but HITEXPORT_S3_TLS is false: enable TLS or unset it")
		}
		if msg := checkCAFile(c.S3CAFile); msg != "" {
			return bad("S3_CA_FILE", msg)
		}
	}
	if err := c.validateS3Options(); err != nil {
		return err
	}
	if _, err := encoders.New(c.Format); err != nil {
		return bad("FORMAT", fmt.Sprintf("unknown format %q: accepted %s", c.Format, strings.Join(encoders.Formats(), ", ")))
	}
	if _, err := encoders.ParseCompression(c.Compression); err != nil {
		return bad("COMPRESSION", fmt.Sprintf("unknown compression %q: accepted none, gzip, zstd", c.Compression))
	}
	if strings.HasPrefix(c.KeyPrefix, "/") {
		return bad("KEY_PREFIX", "must not start with /")
	}
	if _, err := pipeline.ParseKeyTemplate(c.KeyTemplate); err != nil {
		return bad("KEY_TEMPLATE", err.Error()+" (e.g. dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext})")
	}
	if c.Layout != "partition" && c.Layout != "window" {
		return bad("LAYOUT", fmt.Sprintf("unknown layout %q: accepted partition, window", c.Layout))
	}
	if c.MergeInterval <= 0 {
		return bad("MERGE_INTERVAL", "must be a positive duration")
	}
	if c.MergedRetention < time.Hour || c.MergedRetention <= c.LateMaxAge {
		return bad("MERGED_RETENTION", fmt.Sprintf("must be at least 1h and longer than LATE_MAX_AGE (%s): a window's merge records must outlive its late merges (default 168h, i.e. 7 days; set it to at least the topic's retention to keep replays exact)", c.LateMaxAge))
	}
	if c.Window < time.Second || c.Window > 24*time.Hour || (24*time.Hour)%c.Window != 0 || c.Window%time.Second != 0 {
		return bad("WINDOW", "must be whole seconds dividing a day evenly, from 1s to 24h (e.g. 1m, 5m, 10m, 1h)")
	}
	if c.AllowedLateness < 0 {
		return bad("ALLOWED_LATENESS", "must be zero or a positive duration")
	}
	if c.IdleTimeout <= 0 {
		return bad("IDLE_TIMEOUT", "must be a positive duration")
	}
	if c.LateMaxAge <= 0 {
		return bad("LATE_MAX_AGE", "must be a positive duration")
	}
	if c.MaxFuture <= 0 {
		return bad("MAX_FUTURE", "must be a positive duration")
	}
	if c.MaxRecordBytes < 1024 {
		return bad("MAX_RECORD_BYTES", "must be at least 1024")
	}
	if c.MaxObjectBytes < 1<<20 || c.MaxObjectBytes > 4<<30 {
		return bad("MAX_OBJECT_BYTES", "must be from 1048576 (1 MiB) to 4294967296 (4 GiB): objects are written with one conditional PUT (S3's limit is 5 GiB)")
	}
	if c.MaxOpenObjects < 2 {
		return bad("MAX_OPEN_OBJECTS", "must be at least 2")
	}
	if c.SpoolMemory < 0 {
		return bad("SPOOL_MEMORY", "must be zero or more bytes")
	}
	if c.FetchBuffer < 1 {
		return bad("FETCH_BUFFER", "must be at least 1")
	}
	sched, err := ParseSchedule(c.RetrySchedule)
	if err != nil {
		return bad("RETRY_SCHEDULE", err.Error()+": expected cycles separated by ';', each a comma-separated list of durations")
	}
	c.Retry = sched
	if c.FailureThreshold <= 0 || c.FailureThreshold > 1 {
		return bad("FAILURE_THRESHOLD", "must be a fraction in (0, 1], e.g. 0.6")
	}
	if c.FailureWindow <= 0 {
		return bad("FAILURE_WINDOW", "must be a positive duration")
	}
	if c.ShutdownTimeout <= 0 {
		return bad("SHUTDOWN_TIMEOUT", "must be a positive duration")
	}
	if c.AutoDisableAfter < 0 {
		return bad("AUTO_DISABLE_AFTER", "must be zero or a positive duration")
	}
	if err := c.validateIntegrations(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return bad("LOG_FORMAT", fmt.Sprintf("unknown %q: accepted json, text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("LOG_LEVEL", fmt.Sprintf("unknown %q: accepted debug, info, warn, error", c.LogLevel))
	}
	return nil
}

var (
	roleARNRe     = regexp.MustCompile(`^arn:[a-z0-9-]+:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	externalIDRe  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// validateS3Options checks server-side encryption and AssumeRole.
func (c *Config) validateS3Options() error {
	bad := func(v, msg string) error { return &Error{Var: v, Msg: msg} }
	switch c.S3SSE {
	case "none", "s3":
		if c.S3SSEKMSKeyID != "" {
			return bad("S3_SSE_KMS_KEY_ID", "set, but HITEXPORT_S3_SSE is "+c.S3SSE+": set HITEXPORT_S3_SSE=kms or unset it")
		}
	case "kms":
	default:
		return bad("S3_SSE", fmt.Sprintf("unknown %q: accepted none, s3 (SSE-S3), kms (SSE-KMS)", c.S3SSE))
	}
	if c.S3SSEKMSKeyID != "" && strings.ContainsAny(c.S3SSEKMSKeyID, " \t\r\n") {
		return bad("S3_SSE_KMS_KEY_ID", "must be a KMS key id, ARN or alias without spaces")
	}
	if c.S3RoleARN == "" {
		for _, v := range []struct{ name, val string }{{"S3_EXTERNAL_ID", c.S3ExternalID}, {"S3_STS_ENDPOINT", c.S3STSEndpoint}} {
			if v.val != "" {
				return bad(v.name, "set, but HITEXPORT_S3_ROLE_ARN is empty: it only applies to AssumeRole")
			}
		}
		return nil
	}
	if !roleARNRe.MatchString(c.S3RoleARN) {
		return bad("S3_ROLE_ARN", "must be a role ARN such as arn:aws:iam::123456789012:role/hitexport-writer")
	}
	if c.S3ExternalID != "" && (len(c.S3ExternalID) < 2 || len(c.S3ExternalID) > 1224 || !externalIDRe.MatchString(c.S3ExternalID)) {
		// The value is not echoed: the external id is the customer's shared secret.
		return bad("S3_EXTERNAL_ID", "must be 2 to 1224 characters of letters, digits and + = , . @ : / - _")
	}
	if !sessionNameRe.MatchString(c.S3RoleSessionName) {
		return bad("S3_ROLE_SESSION_NAME", "must be 2 to 64 characters of letters, digits and + = , . @ - _")
	}
	if c.S3STSEndpoint != "" {
		u, err := url.Parse(c.S3STSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return bad("S3_STS_ENDPOINT", "must be an http(s) URL without path, e.g. https://sts.eu-west-1.amazonaws.com")
		}
	}
	return nil
}

// SASL mechanisms accepted by KAFKA_SASL_MECHANISM (lower case; the value is
// matched without regard to case and normalised to these).
const (
	SASLNone        = "none"
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// validateKafkaSecurity checks the TLS and SASL settings: files are read and
// parsed now, so a wrong path or a key that does not match its certificate is
// a configuration error naming the variable, not a failed handshake later.
func (c *Config) validateKafkaSecurity() error {
	bad := func(v, msg string) error { return &Error{Var: v, Msg: msg} }
	if !c.KafkaTLS {
		for _, v := range []struct{ name, val string }{
			{"KAFKA_CA_FILE", c.KafkaCAFile}, {"KAFKA_TLS_CERT_FILE", c.KafkaTLSCertFile}, {"KAFKA_TLS_KEY_FILE", c.KafkaTLSKeyFile},
		} {
			if v.val != "" {
				return bad(v.name, "set, but HITEXPORT_KAFKA_TLS is false: enable TLS or unset it")
			}
		}
	}
	if c.KafkaCAFile != "" {
		if msg := checkCAFile(c.KafkaCAFile); msg != "" {
			return bad("KAFKA_CA_FILE", msg)
		}
	}
	switch {
	case c.KafkaTLSCertFile != "" && c.KafkaTLSKeyFile == "":
		return bad("KAFKA_TLS_KEY_FILE", "required when HITEXPORT_KAFKA_TLS_CERT_FILE is set (the client certificate's private key, PEM)")
	case c.KafkaTLSKeyFile != "" && c.KafkaTLSCertFile == "":
		return bad("KAFKA_TLS_CERT_FILE", "required when HITEXPORT_KAFKA_TLS_KEY_FILE is set (the client certificate, PEM)")
	case c.KafkaTLSCertFile != "":
		if _, err := os.Stat(c.KafkaTLSCertFile); err != nil {
			return bad("KAFKA_TLS_CERT_FILE", "cannot read the file it names: "+errors.Unwrap(err).Error())
		}
		if _, err := os.Stat(c.KafkaTLSKeyFile); err != nil {
			return bad("KAFKA_TLS_KEY_FILE", "cannot read the file it names: "+errors.Unwrap(err).Error())
		}
		if _, err := tls.LoadX509KeyPair(c.KafkaTLSCertFile, c.KafkaTLSKeyFile); err != nil {
			// The error of LoadX509KeyPair names no key material.
			return bad("KAFKA_TLS_CERT_FILE", "with HITEXPORT_KAFKA_TLS_KEY_FILE not a usable PEM certificate and key pair: "+err.Error())
		}
	}
	c.KafkaSASL = strings.ToLower(strings.TrimSpace(c.KafkaSASL))
	switch c.KafkaSASL {
	case "":
		c.KafkaSASL = SASLNone
	case SASLNone, SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return bad("KAFKA_SASL_MECHANISM", fmt.Sprintf("unknown %q: accepted none, plain, scram-sha-256, scram-sha-512", c.KafkaSASL))
	}
	if c.KafkaSASL == SASLNone {
		if c.KafkaSASLUsername != "" {
			return bad("KAFKA_SASL_USERNAME", "set, but HITEXPORT_KAFKA_SASL_MECHANISM is none: choose plain, scram-sha-256 or scram-sha-512, or unset it")
		}
		if c.KafkaSASLPassword != "" {
			return bad("KAFKA_SASL_PASSWORD", "set, but HITEXPORT_KAFKA_SASL_MECHANISM is none: choose plain, scram-sha-256 or scram-sha-512, or unset it")
		}
		return nil
	}
	if c.KafkaSASLUsername == "" {
		return bad("KAFKA_SASL_USERNAME", "required with HITEXPORT_KAFKA_SASL_MECHANISM="+c.KafkaSASL+" (or HITEXPORT_KAFKA_SASL_USERNAME_FILE)")
	}
	if c.KafkaSASLPassword == "" {
		return bad("KAFKA_SASL_PASSWORD", "required with HITEXPORT_KAFKA_SASL_MECHANISM="+c.KafkaSASL+" (or HITEXPORT_KAFKA_SASL_PASSWORD_FILE)")
	}
	return nil
}

// checkCAFile returns why path is not a usable PEM bundle of CA
// certificates, or "".
func checkCAFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "cannot read the file it names: " + errors.Unwrap(err).Error()
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return "the file holds no PEM certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)"
	}
	return ""
}

// ParseSchedule reads "1s,3s;0s,30s" into cycles of waits.
func ParseSchedule(s string) ([][]time.Duration, error) {
	var out [][]time.Duration
	for _, cyc := range strings.Split(s, ";") {
		var waits []time.Duration
		for _, w := range strings.Split(cyc, ",") {
			w = strings.TrimSpace(w)
			d, err := time.ParseDuration(w)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("bad duration %q", w)
			}
			waits = append(waits, d)
		}
		out = append(out, waits)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// Redacted returns the settings as key/value pairs for logging, secrets
// replaced by "[redacted]" (or "[unset]").
func (c *Config) Redacted() map[string]any {
	red := func(s string) string {
		if s == "" {
			return "[unset]"
		}
		return "[redacted]"
	}
	return map[string]any{
		"kafka_brokers": c.KafkaBrokers, "kafka_topic": c.KafkaTopic, "kafka_group": c.KafkaGroup,
		"s3_endpoint": c.S3Endpoint, "s3_bucket": c.S3Bucket, "s3_tls": c.S3TLS,
		"s3_access_key": red(c.S3AccessKey), "s3_secret_key": red(c.S3SecretKey),
		"kafka_tls": c.KafkaTLS, "kafka_sasl_mechanism": c.KafkaSASL,
		"kafka_sasl_username": c.KafkaSASLUsername, "kafka_sasl_password": red(c.KafkaSASLPassword),
		"format": c.Format, "compression": c.Compression, "key_prefix": c.KeyPrefix, "key_template": c.KeyTemplate, "layout": c.Layout,
		"s3_sse": c.S3SSE, "s3_sse_kms_key_id": c.S3SSEKMSKeyID, "s3_role_arn": c.S3RoleARN,
		"s3_external_id": red(c.S3ExternalID), "s3_role_session_name": c.S3RoleSessionName, "s3_sts_endpoint": c.S3STSEndpoint,
		"window": c.Window.String(), "allowed_lateness": c.AllowedLateness.String(),
		"idle_timeout": c.IdleTimeout.String(), "commit_interval": c.CommitInterval.String(), "http_addr": c.HTTPAddr,
	}
}

// RegistryKind is the kind of HITEXPORT_REGISTRY: "env", "kafka" or "file".
func (c *Config) RegistryKind() string {
	if strings.HasPrefix(c.Registry, "file:") {
		return "file"
	}
	return c.Registry
}

// RegistryFile is the path of a file: registry.
func (c *Config) RegistryFile() string { return strings.TrimPrefix(c.Registry, "file:") }

func (c *Config) validateIntegrations() error {
	bad := func(v, msg string) error { return &Error{Var: v, Msg: msg} }
	switch c.RegistryKind() {
	case "env":
	case "file":
		if c.RegistryFile() == "" {
			return bad("REGISTRY", "file: needs a path, e.g. file:/etc/hitexport/integrations.yaml")
		}
		if _, err := os.Stat(c.RegistryFile()); err != nil {
			return bad("REGISTRY", "cannot read the file it names: "+errors.Unwrap(err).Error())
		}
	case "kafka":
		if c.RegistryTopic == "" {
			return bad("REGISTRY_TOPIC", "required with HITEXPORT_REGISTRY=kafka: the compacted topic of the integrations")
		}
		if c.SecretsKeyFile == "" {
			return bad("SECRETS_KEY_FILE", "required with HITEXPORT_REGISTRY=kafka: a file holding 32 random bytes (raw or 64 hex characters) that seals the integrations' secrets")
		}
		if _, err := os.Stat(c.SecretsKeyFile); err != nil {
			return bad("SECRETS_KEY_FILE", "cannot read the file it names: "+errors.Unwrap(err).Error())
		}
	default:
		return bad("REGISTRY", fmt.Sprintf("unknown registry %q: accepted env, kafka, file:PATH", c.Registry))
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return bad("ADMIN_ADDR", "must be host:port or :port, e.g. 127.0.0.1:8081")
		}
		if c.AdminTokenFile == "" && !c.AdminAllowNoToken {
			return bad("ADMIN_TOKEN_FILE", "required when HITEXPORT_ADMIN_ADDR is set: a file holding the admin API's bearer token (or HITEXPORT_ADMIN_ALLOW_NO_TOKEN=true on a loopback address)")
		}
		if c.AdminTokenFile != "" {
			if _, err := os.Stat(c.AdminTokenFile); err != nil {
				return bad("ADMIN_TOKEN_FILE", "cannot read the file it names: "+errors.Unwrap(err).Error())
			}
		}
	}
	return nil
}
