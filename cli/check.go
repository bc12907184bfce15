package cli

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
	"github.com/hitexport/hitexport/kafkaadmin"
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
// then the destination (CheckDestination: the bucket, and that a test object
// holding the seed's sample hit in the configured format can be written and
// read back). It stops at the first failure. Messages never contain
// credentials.
func Check(ctx context.Context, cfg *config.Config, out func(CheckResult)) bool {
	out(CheckResult{Name: "config", OK: true, Msg: fmt.Sprintf("format %s, compression %s, window %s", cfg.Format, cfg.Compression, cfg.Window)})
	conn, err := KafkaConn(cfg)
	if err != nil {
		out(CheckResult{Name: "kafka", Msg: err.Error()})
		return false
	}
	if err := kafkaadmin.Hint(checkKafka(ctx, cfg, conn)); err != nil {
		out(CheckResult{Name: "kafka", Msg: err.Error()})
		return false
	}
	out(CheckResult{Name: "kafka", OK: true, Msg: fmt.Sprintf("brokers %v reachable, topic %q present", cfg.KafkaBrokers, cfg.KafkaTopic)})
	bucket, err := Bucket(cfg)
	if err != nil {
		out(CheckResult{Name: "s3", Msg: err.Error()})
		return false
	}
	layout, err := Layout(cfg)
	if err != nil {
		out(CheckResult{Name: "s3-write", Msg: err.Error()})
		return false
	}
	ok := true
	for _, r := range CheckDestination(ctx, Destination{Bucket: bucket, Endpoint: cfg.S3Endpoint, KeyPrefix: cfg.KeyPrefix,
		Layout: layout, Topic: cfg.KafkaTopic}) {
		out(r)
		ok = ok && r.OK
	}
	return ok
}

// Destination is where objects go, as "check" tests it: a bucket (without
// the key prefix), its endpoint (for messages), the key prefix and the
// object layout (format, compression).
type Destination struct {
	Bucket    store.Bucket
	Endpoint  string
	KeyPrefix string
	Layout    pipeline.Layout
	// Topic is the topic named in the sample record (OCSF carries it).
	Topic string
}

// CheckDestination runs the destination's steps of "check" in order and
// stops at the first failure: "s3" (the bucket exists and the keys may see
// it), "s3-write" (a test object with the seed's sample hit, in the layout's
// format and compression, is written under <prefix>hitexport-check/, read
// back, decoded and deleted). It works for a destination that is not saved
// anywhere. Messages never contain credentials.
func CheckDestination(ctx context.Context, d Destination) []CheckResult {
	var out []CheckResult
	if err := checkBucket(ctx, d.Bucket); err != nil {
		return append(out, CheckResult{Name: "s3", Msg: err.Error()})
	}
	out = append(out, CheckResult{Name: "s3", OK: true, Msg: fmt.Sprintf("bucket %q exists at %s", d.Bucket.Name(), d.Endpoint)})
	key, err := checkWrite(ctx, d)
	if err != nil {
		return append(out, CheckResult{Name: "s3-write", Msg: err.Error()})
	}
	return append(out, CheckResult{Name: "s3-write", OK: true, Msg: "test object written, read back and decoded: " + key})
}

func checkKafka(ctx context.Context, cfg *config.Config, conn kafkaadmin.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c := conn.Client(10 * time.Second)
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
// only noted: the exporter itself never deletes). It returns the key, prefix
// included.
func checkWrite(ctx context.Context, d Destination) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l := d.Layout
	b := store.WithPrefix(d.Bucket, d.KeyPrefix)
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
	if err := rw.Write(encoders.Record{Value: dec.Value, TimeMillis: dec.TimeMillis, Topic: d.Topic}); err != nil {
		return "", err
	}
	if err := rw.Close(); err != nil {
		return "", err
	}
	if err := cw.Close(); err != nil {
		return "", err
	}
	rel := pipeline.CheckKey(time.Now(), l.Ext())
	key := d.KeyPrefix + rel
	data := buf.Bytes()
	err = b.Put(ctx, rel, bytes.NewReader(data), int64(len(data)), store.PutOptions{
		ContentType: l.Encoder.ContentType(), ContentEncoding: l.Compression.ContentEncoding(),
		Metadata: map[string]string{"format": l.Encoder.Format(), "kind": "check"},
	})
	if err != nil {
		return "", fmt.Errorf("cannot write to bucket %q (needs s3:PutObject): %w", b.Name(), err)
	}
	rc, err := b.Get(ctx, rel)
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
	if err := b.Delete(ctx, rel); err != nil {
		return key + " (left in place: delete not permitted)", nil
	}
	return key + " (deleted)", nil
}
