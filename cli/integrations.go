package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hitexport/hitexport/adminapi"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/registry"
	"github.com/hitexport/hitexport/store"
)

// IntegrationGroup is the consumer group holding an integration's committed
// offsets and resume state: "<HITEXPORT_KAFKA_GROUP>.<id>", so Kafka's own
// tools (kafka-consumer-groups --describe) show each integration's lag. The
// env registry's one integration, "default", keeps using the membership
// group itself, as before integrations existed.
func IntegrationGroup(cfg *config.Config, id string) string {
	if cfg.RegistryKind() == "env" && id == registry.DefaultID {
		return cfg.KafkaGroup
	}
	return cfg.KafkaGroup + "." + id
}

// OpenRegistry opens the registry HITEXPORT_REGISTRY names.
func OpenRegistry(ctx context.Context, cfg *config.Config, log *slog.Logger) (registry.Registry, error) {
	switch cfg.RegistryKind() {
	case "file":
		return registry.NewFile(registry.FileOptions{Path: cfg.RegistryFile(), Defaults: integrationDefaults(cfg), Logger: log})
	case "kafka":
		keys, err := registry.LoadKeyring(cfg.SecretsKeyFile)
		if err != nil {
			return nil, &config.Error{Var: "SECRETS_KEY_FILE", Msg: err.Error()}
		}
		conn, err := KafkaConn(cfg)
		if err != nil {
			return nil, err
		}
		return registry.NewKafka(ctx, registry.KafkaOptions{
			Brokers: cfg.KafkaBrokers, Topic: cfg.RegistryTopic, Keys: keys,
			Dialer: conn.Dialer(), Transport: conn.Transport(), Logger: log,
		})
	default:
		var ca string
		if cfg.S3CAFile != "" {
			b, err := os.ReadFile(cfg.S3CAFile)
			if err != nil {
				return nil, &config.Error{Var: "S3_CA_FILE", Msg: "cannot read the file it names"}
			}
			ca = string(b)
		}
		return registry.NewEnv(registry.EnvConfig{
			Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Region: cfg.S3Region,
			AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, TLS: cfg.S3TLS, CAPEM: ca,
			SSE: cfg.S3SSE, SSEKMSKeyID: cfg.S3SSEKMSKeyID, RoleARN: cfg.S3RoleARN, ExternalID: cfg.S3ExternalID,
			RoleSessionName: cfg.S3RoleSessionName, STSEndpoint: cfg.S3STSEndpoint,
			Format: cfg.Format, Compression: cfg.Compression, KeyPrefix: cfg.KeyPrefix, Topic: cfg.KafkaTopic,
		})
	}
}

func integrationDefaults(cfg *config.Config) integrations.Defaults {
	return integrations.Defaults{Topic: cfg.KafkaTopic}
}

// integrationBucket is the S3 bucket of an integration's destination
// (without its key prefix).
func integrationBucket(d integrations.Destination) (*store.S3, error) {
	return store.NewS3(integrationS3Options(d))
}

// integrationS3Options are the store options of an integration's
// destination: endpoint, keys, TLS, server-side encryption and AssumeRole.
func integrationS3Options(d integrations.Destination) store.S3Options {
	return store.S3Options{
		Endpoint: d.Endpoint, Bucket: d.Bucket, AccessKey: d.AccessKey, SecretKey: d.SecretKey,
		Region: d.Region, TLS: d.TLS, CAPEM: d.CAPEM,
		SSE: d.SSE, SSEKMSKeyID: d.SSEKMSKeyID,
		Role: store.AssumeRole{RoleARN: d.RoleARN, ExternalID: d.ExternalID, SessionName: d.RoleSessionName,
			STSEndpoint: d.STSEndpoint},
	}
}

// integrationLayout is the object layout of an integration: its format,
// compression and key folders (the placeholders of its key_prefix; the
// literal beginning is the bucket's prefix, see integrationKeyPrefix), the
// deployment's window.
func integrationLayout(cfg *config.Config, it integrations.Integration) (pipeline.Layout, error) {
	enc, err := encoders.New(it.Format)
	if err != nil {
		return pipeline.Layout{}, err
	}
	comp, err := encoders.ParseCompression(it.Compression)
	if err != nil {
		return pipeline.Layout{}, err
	}
	_, folders := integrations.SplitKeyPrefix(it.KeyPrefix)
	keys, err := pipeline.ParseKeyTemplate(folders + pipeline.KeyFileName)
	if err != nil {
		return pipeline.Layout{}, err
	}
	return pipeline.Layout{Encoder: enc, Compression: comp, Window: cfg.Window, Keys: keys, Integration: it.Name}, nil
}

// Tester is the admin API's "Test integration": the steps of "hitexport
// check" (config, kafka, s3, s3-write) for an integration, saved or not.
func Tester(cfg *config.Config) adminapi.Tester {
	return func(ctx context.Context, it integrations.Integration) adminapi.TestResult {
		var res adminapi.TestResult
		add := func(r CheckResult) bool {
			res.Steps = append(res.Steps, adminapi.TestStep{Step: r.Name, OK: r.OK, Message: integrationWords.Replace(r.Msg)})
			return r.OK
		}
		layout, err := integrationLayout(cfg, it)
		if err != nil {
			add(CheckResult{Name: "config", Msg: err.Error()})
			return res
		}
		add(CheckResult{Name: "config", OK: true, Msg: fmt.Sprintf("format %s, compression %s, window %s", it.Format, it.Compression, cfg.Window)})
		conn, err := KafkaConn(cfg)
		if err == nil {
			err = kafkaadmin.Hint(checkKafka(ctx, conn, cfg.KafkaBrokers, it.Filter.Topic))
		}
		if err != nil {
			add(CheckResult{Name: "kafka", Msg: err.Error()})
			return res
		}
		add(CheckResult{Name: "kafka", OK: true, Msg: fmt.Sprintf("brokers %v reachable, topic %q present", cfg.KafkaBrokers, it.Filter.Topic)})
		bucket, err := integrationBucket(it.Destination)
		if err != nil {
			add(CheckResult{Name: "s3", Msg: err.Error()})
			return res
		}
		res.OK = true
		lit, _ := integrations.SplitKeyPrefix(it.KeyPrefix)
		for _, r := range CheckDestination(ctx, Destination{Bucket: bucket, Endpoint: it.Destination.Endpoint,
			KeyPrefix: lit, Layout: layout, Topic: it.Filter.Topic}) {
			res.OK = add(r) && res.OK
		}
		return res
	}
}

// integrationWords names an integration's fields instead of the
// environment variables in check's messages.
var integrationWords = strings.NewReplacer(
	"HITEXPORT_S3_ACCESS_KEY", "the access key", "HITEXPORT_S3_SECRET_KEY", "the secret key",
	"HITEXPORT_S3_BUCKET", "the bucket", "HITEXPORT_S3_ENDPOINT", "the endpoint", "HITEXPORT_S3_TLS", "TLS",
	"HITEXPORT_S3_CA_FILE", "the CA PEM", "HITEXPORT_S3_REGION", "the region", "HITEXPORT_KAFKA_TOPIC", "filter.topic",
	"HITEXPORT_KEY_PREFIX", "the key prefix",
)

// positions implements adminapi.Positions on the integrations' consumer
// groups.
type positions struct {
	cfg *config.Config
	reg registry.Registry
}

// ResetToLatest commits the end offsets of the integration's topic to its
// group (an enable "from now"): it runs while the integration is disabled,
// so no worker commits beside it.
func (p positions) ResetToLatest(ctx context.Context, id string) error {
	it, err := p.reg.Get(ctx, id)
	if err != nil {
		return err
	}
	conn, err := KafkaConn(p.cfg)
	if err != nil {
		return err
	}
	c := conn.Client(10 * time.Second)
	end, err := kafkaadmin.EndOffsets(ctx, c, it.Filter.Topic, nil)
	if err != nil {
		return err
	}
	offs := make([]kafkaadmin.Offset, 0, len(end))
	for part, o := range end {
		offs = append(offs, kafkaadmin.Offset{Partition: part, Offset: o})
	}
	return kafkaadmin.Commit(ctx, c, IntegrationGroup(p.cfg, id), it.Filter.Topic, kafkaadmin.Simple, offs)
}

// Forget removes a deleted integration's progress (its consumer group).
func (p positions) Forget(ctx context.Context, id string) error {
	conn, err := KafkaConn(p.cfg)
	if err != nil {
		return err
	}
	return kafkaadmin.DeleteGroup(ctx, conn.Client(10*time.Second), IntegrationGroup(p.cfg, id))
}
