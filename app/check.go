package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
		"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// CheckResult is one line of "check".
type CheckResult struct {
	Name string
	OK   bool
	Msg  string
}

// Check is "Test integration": it checks Kafka reachability and the topic,
// the bucket, and that a test object holding the seed's sample hit in the
// configured format can be written and read back. It stops at the first
// failure. Messages never contain credentials.
func Check(ctx context.Context, cfg *config.Config, out func(CheckResult)) bool {
	ok := true
	report := func(name string, err error, msg string) bool {
		if err != nil {
			out(CheckResult{Name: name, Msg: err.Error()})
			ok = false
			return false
		}
		out(CheckResult{Name: name, OK: true, Msg: msg})
		return true
	}
	report("config", nil, fmt.Sprintf("format %s, compression %s, window %s", cfg.Format, cfg.Compression, cfg.Window))

	ko, err := KafkaOptions(cfg)
	if err != nil {
		report("kafka", err, "")
		return false
	}
	if !report("kafka", KafkaHint(checkKafka(ctx, cfg, ko.Transport)), fmt.Sprintf("brokers %v reachable, topic %q present", cfg.KafkaBrokers, cfg.KafkaTopic)) {
		return false
	}
	bucket, err := Bucket(cfg)
	if err != nil {
		report("s3", err, "")
		return false
	}
	if !report("s3", checkBucket(ctx, bucket), fmt.Sprintf("bucket %q exists at %s", cfg.S3Bucket, cfg.S3Endpoint)) {
		return false
	}
	key, err := checkWrite(ctx, cfg, bucket)
	report("s3-write", err, "test object written, read back and decoded: "+key)
	return ok
}

func checkKafka(ctx context.Context, cfg *config.Config, tr *kafka.Transport) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(cfg.KafkaBrokers...), Timeout: 10 * time.Second}
	if tr != nil {
		c.Transport = tr
	}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.KafkaTopic}})
	if err != nil {
		return fmt.Errorf("brokers %v not reachable: %w", cfg.KafkaBrokers, err)
	}
	for _, t := range md.Topics {
		if t.Name == cfg.KafkaTopic {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return fmt.Errorf("topic %q not found (HITEXPORT_KAFKA_TOPIC)", cfg.KafkaTopic)
			}
			if t.Error != nil {
				return fmt.Errorf("topic %q: %w (HITEXPORT_KAFKA_TOPIC)", cfg.KafkaTopic, t.Error)
			}
			if len(t.Partitions) == 0 {
				return fmt.Errorf("topic %q has no partitions", cfg.KafkaTopic)
			}
			return nil
		}
	}
	return fmt.Errorf("topic %q not found (HITEXPORT_KAFKA_TOPIC)", cfg.KafkaTopic)
}

func checkBucket(ctx context.Context, b store.Bucket) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ok, err := b.Exists(ctx)
	var pe *store.PermanentError
	if errors.As(err, &pe) && pe.Code == "AccessDenied" {
		// A HEAD answer has no body: S3 cannot say whether the keys or
		// the permission are wrong.
		return fmt.Errorf("bucket %q: access denied: the keys lack s3:ListBucket on it, or HITEXPORT_S3_ACCESS_KEY / HITEXPORT_S3_SECRET_KEY are wrong: %w", b.Name(), err)
	}
	if err != nil {
		return fmt.Errorf("bucket %q: %w", b.Name(), err)
	}
	if !ok {
		return fmt.Errorf("bucket %q does not exist (HITEXPORT_S3_BUCKET; create it first), or the server does not know the access key (HITEXPORT_S3_ACCESS_KEY: some servers answer an unknown key as a missing bucket)", b.Name())
	}
	return nil
}

// checkWrite writes the sample hit as a test object under
// <prefix>hitexport-check/, reads it back and deletes it (a denied delete is
// only noted: the exporter itself never deletes).
func checkWrite(ctx context.Context, cfg *config.Config, b store.Bucket) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := Layout(cfg)
	if err != nil {
		return "", err
	}
	dec, reason := hits.Decode(hits.Sample, time.Time{}, hits.Limits{})
	if reason != "" {
		return "", fmt.Errorf("sample hit: %s", reason)
	}
	var buf bytes.Buffer
	cw, err := l.Compression.NewWriter(&buf)
	if err != nil {
		return "", err
	}
	rw := l.Encoder.NewWriter(cw)
	if err := rw.Write(encoders.Record{Value: dec.Value, TimeMillis: dec.TimeMillis, Topic: cfg.KafkaTopic}); err != nil {
		return "", err
	}
	if err := rw.Close(); err != nil {
		return "", err
	}
	if err := cw.Close(); err != nil {
		return "", err
	}
	b = store.WithPrefix(b, cfg.KeyPrefix)
	key := pipeline.CheckKey(time.Now(), l.Ext())
	data := buf.Bytes()
	err = b.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{
		ContentType: l.Encoder.ContentType(), ContentEncoding: l.Compression.ContentEncoding(),
		Metadata: map[string]string{"format": l.Encoder.Format(), "kind": "check"},
	})
	if err != nil {
		return "", fmt.Errorf("cannot write to bucket %q (needs s3:PutObject): %w", b.Name(), err)
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("wrote %s but cannot read it back (needs s3:GetObject: run reads each key's metadata before it writes, check reads the test object): %w", key, err)
	}
	defer rc.Close()
	dr, err := l.Compression.NewReader(rc)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", key, err)
	}
	got, err := io.ReadAll(dr)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", key, err)
	}
	if !bytes.Contains(got, []byte("d2a900a6efac7a7c893a00903205071a")) {
		return "", fmt.Errorf("read back %s: the sample hit is not in it", key)
	}
	if err := b.Delete(ctx, key); err != nil {
		return key + " (left in place: delete not permitted)", nil
	}
	return key + " (deleted)", nil
}
