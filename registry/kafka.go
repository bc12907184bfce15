package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/integrations"
)

// DefaultTopic is the registry topic when none is given
// (HITEXPORT_REGISTRY_TOPIC).
const DefaultTopic = "hitexport.integrations"

// KafkaOptions configure the Kafka registry. Plain values: the caller maps
// its configuration onto them.
type KafkaOptions struct {
	Brokers []string
	// Topic (default DefaultTopic): created if missing, compacted, one
	// partition, replication factor min(3, brokers).
	Topic string
	// Keys seal and open the secrets (HITEXPORT_SECRETS_KEY_FILE, see
	// LoadKeyring). Required.
	Keys *Keyring
	// Dialer (reader) and Transport (admin requests and produce) carry TLS
	// and SASL; nil for plain TCP.
	Dialer    *kafka.Dialer
	Transport kafka.RoundTripper
	// ReplicationFactor of a created topic (0: min(3, brokers)).
	ReplicationFactor int
	// WriteTimeout bounds a write: produce plus reading it back (default
	// 15s).
	WriteTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Kafka is the registry kept in a compacted Kafka topic. Key: the
// integration id; value: the versioned JSON of EncodeRecord (secrets sealed
// with AES-256-GCM); a tombstone (null value) deletes. Every replica reads
// the topic from its start with a plain partition reader (no consumer
// group) and keeps following it, so every replica sees every change within
// about a second.
//
// Writes go through the topic: a write returns once the record is produced
// (acks=all) and this replica has read it back, so a GET on this replica
// right after a write sees it. Writes within one process are serialised
// (name uniqueness is checked against the set this replica has read).
// Concurrent writes from two replicas are last-writer-wins: the record
// later in the topic is the value, and two replicas creating the same name
// at the same instant can both succeed (rename one with PATCH).
type Kafka struct {
	o      KafkaOptions
	log    *slog.Logger
	client *kafka.Client
	reader *kafka.Reader
	set    *set

	writeMu sync.Mutex

	mu      sync.Mutex
	applied int64         // next offset to apply
	advance chan struct{} // closed and replaced when applied grows

	cancel context.CancelFunc
	done   chan struct{}
}

// NewKafka creates the topic if missing, reads it to its end (so List
// returns the whole set when NewKafka returns) and keeps following it.
func NewKafka(ctx context.Context, o KafkaOptions) (*Kafka, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("kafka registry: no brokers (HITEXPORT_KAFKA_BROKERS)")
	}
	if o.Keys == nil {
		return nil, errors.New("HITEXPORT_SECRETS_KEY_FILE: required with HITEXPORT_REGISTRY=kafka: secrets are sealed with it (32 random bytes, raw or 64 hex characters)")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	k := &Kafka{o: o, log: o.Logger, set: newSet(), advance: make(chan struct{}), done: make(chan struct{})}
	k.client = &kafka.Client{Addr: kafka.TCP(o.Brokers...), Timeout: 15 * time.Second, Transport: o.Transport}
	if err := k.ensureTopic(ctx); err != nil {
		return nil, err
	}
	end, err := k.endOffset(ctx)
	if err != nil {
		return nil, err
	}
	k.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers: o.Brokers, Topic: o.Topic, Partition: 0, Dialer: o.Dialer,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond,
		ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: time.Second,
	})
	rctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go k.follow(rctx)
	if err := k.catchUp(ctx, end); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func (k *Kafka) ensureTopic(ctx context.Context) error {
	md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{k.o.Topic}})
	if err != nil {
		return fmt.Errorf("kafka registry: brokers %v not reachable: %w", k.o.Brokers, err)
	}
	for _, t := range md.Topics {
		if t.Name != k.o.Topic {
			continue
		}
		if t.Error == nil {
			if len(t.Partitions) != 1 {
				return fmt.Errorf("HITEXPORT_REGISTRY_TOPIC: topic %q has %d partitions; the registry needs exactly 1 (one order of changes)", k.o.Topic, len(t.Partitions))
			}
			k.checkCompacted(ctx)
			return nil
		}
		if !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("kafka registry: topic %q: %w", k.o.Topic, t.Error)
		}
	}
	rf := k.o.ReplicationFactor
	if rf <= 0 {
		rf = min(3, len(md.Brokers))
	}
	res, err := k.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: k.o.Topic, NumPartitions: 1, ReplicationFactor: rf,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("kafka registry: create topic %q: %w", k.o.Topic, err)
	}
	if err := res.Errors[k.o.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafka registry: create topic %q: %w", k.o.Topic, err)
	}
	k.log.Info("registry topic created", "topic", k.o.Topic, "replication_factor", rf, "cleanup_policy", "compact")
	// The new topic's leader may take a moment to be known.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := k.endOffset(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkCompacted warns when an existing registry topic is not compacted:
// with cleanup.policy=delete, retention would eventually delete
// integrations.
func (k *Kafka) checkCompacted(ctx context.Context) {
	res, err := k.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: k.o.Topic, ConfigNames: []string{"cleanup.policy"}}}})
	if err != nil || len(res.Resources) != 1 {
		return
	}
	for _, e := range res.Resources[0].ConfigEntries {
		if e.ConfigName == "cleanup.policy" && !strings.Contains(e.ConfigValue, "compact") {
			k.log.Warn("registry topic is not compacted: retention will delete integrations; set cleanup.policy=compact",
				"topic", k.o.Topic, "cleanup_policy", e.ConfigValue)
		}
	}
}

func (k *Kafka) endOffset(ctx context.Context) (int64, error) {
	res, err := k.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{k.o.Topic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		return 0, fmt.Errorf("kafka registry: end offset of %q: %w", k.o.Topic, err)
	}
	for _, p := range res.Topics[k.o.Topic] {
		if p.Partition == 0 {
			if p.Error != nil {
				return 0, fmt.Errorf("kafka registry: end offset of %q: %w", k.o.Topic, p.Error)
			}
			return p.LastOffset, nil
		}
	}
	return 0, fmt.Errorf("kafka registry: no partition 0 in %q", k.o.Topic)
}

// catchUp waits until the records below end are applied. Should the record
// at end-1 be gone (a tombstone removed by compaction in a closed segment),
// it stops waiting after a quiet spell.
func (k *Kafka) catchUp(ctx context.Context, end int64) error {
	quiet := time.NewTimer(5 * time.Second)
	defer quiet.Stop()
	for {
		k.mu.Lock()
		applied, adv := k.applied, k.advance
		k.mu.Unlock()
		if applied >= end {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka registry: reading topic %q to its end: %w", k.o.Topic, ctx.Err())
		case <-adv:
			quiet.Reset(5 * time.Second)
		case <-quiet.C:
			k.log.Warn("registry topic: stopped waiting for its end offset after a quiet spell", "topic", k.o.Topic, "read_to", applied, "end", end)
			return nil
		}
	}
}

func (k *Kafka) follow(ctx context.Context) {
	defer close(k.done)
	for {
		m, err := k.reader.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Error("registry topic: read failed, retrying", "topic", k.o.Topic, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		k.apply(m)
	}
}

func (k *Kafka) apply(m kafka.Message) {
	id := string(m.Key)
	switch {
	case len(m.Key) == 0:
		k.log.Warn("registry topic: record without key ignored", "offset", m.Offset)
	case m.Value == nil:
		k.set.put(id, nil)
	default:
		it, err := DecodeRecord(m.Value, k.o.Keys)
		switch {
		case err != nil:
			k.log.Error("registry topic: record not applied, keeping the previous value of its key", "id", id, "offset", m.Offset, "error", err)
		case it.ID != id:
			k.log.Error("registry topic: record not applied: its key and id differ", "key", id, "id", it.ID, "offset", m.Offset)
		default:
			k.set.put(id, &it)
		}
	}
	k.mu.Lock()
	k.applied = m.Offset + 1
	close(k.advance)
	k.advance = make(chan struct{})
	k.mu.Unlock()
}

// write produces one record (value nil: tombstone) and waits until this
// replica has applied it.
func (k *Kafka) write(ctx context.Context, id string, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, k.o.WriteTimeout)
	defer cancel()
	rec := kafka.Record{Key: kafka.NewBytes([]byte(id))}
	if value != nil {
		rec.Value = kafka.NewBytes(value)
	}
	res, err := k.client.Produce(ctx, &kafka.ProduceRequest{Topic: k.o.Topic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(rec)})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("%w: write to registry topic %q: %v", ErrUnavailable, k.o.Topic, err)
	}
	for {
		k.mu.Lock()
		applied, adv := k.applied, k.advance
		k.mu.Unlock()
		if applied > res.BaseOffset {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: written to registry topic %q at offset %d but not read back in time", ErrUnavailable, k.o.Topic, res.BaseOffset)
		case <-adv:
		}
	}
}

// ErrUnavailable: the registry could not complete the operation now.
var ErrUnavailable = errors.New("registry unavailable")

func (k *Kafka) List(ctx context.Context) ([]integrations.Integration, error) {
	return k.set.list(), nil
}

func (k *Kafka) Get(ctx context.Context, id string) (integrations.Integration, error) {
	return k.set.find(id)
}

func (k *Kafka) Create(ctx context.Context, it integrations.Integration) (integrations.Integration, error) {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	if err := k.set.checkNew(it); err != nil {
		return integrations.Integration{}, err
	}
	v, err := EncodeRecord(it, k.o.Keys)
	if err != nil {
		return integrations.Integration{}, err
	}
	if err := k.write(ctx, it.ID, v); err != nil {
		return integrations.Integration{}, err
	}
	return it.Clone(), nil
}

func (k *Kafka) Update(ctx context.Context, id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	return k.updateLocked(ctx, id, fn)
}

func (k *Kafka) updateLocked(ctx context.Context, id string, fn func(integrations.Integration) (integrations.Integration, error)) (integrations.Integration, error) {
	next, err := k.set.next(id, fn)
	if err != nil {
		return integrations.Integration{}, err
	}
	v, err := EncodeRecord(next, k.o.Keys)
	if err != nil {
		return integrations.Integration{}, err
	}
	if err := k.write(ctx, id, v); err != nil {
		return integrations.Integration{}, err
	}
	return next.Clone(), nil
}

func (k *Kafka) Delete(ctx context.Context, id string) error {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	if _, ok := k.set.get(id); !ok {
		return notFound(id)
	}
	return k.write(ctx, id, nil)
}

// SetDisabled writes the disabled state through the topic: every replica
// sees it.
func (k *Kafka) SetDisabled(ctx context.Context, id, by, reason string) error {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	if cur, ok := k.set.get(id); ok && !cur.Enabled {
		return nil // already disabled (by a user, or by another replica)
	}
	_, err := k.updateLocked(ctx, id, func(it integrations.Integration) (integrations.Integration, error) {
		it.SetEnabled(false, by, reason, time.Now())
		it.UpdatedAt = time.Now().UTC()
		return it, nil
	})
	return err
}

func (k *Kafka) ReadOnly() bool { return false }

func (k *Kafka) Watch(ctx context.Context) <-chan []integrations.Integration { return k.set.watch(ctx) }

// Topic is the registry topic.
func (k *Kafka) Topic() string { return k.o.Topic }

func (k *Kafka) Close() error {
	k.cancel()
	<-k.done
	err := k.reader.Close()
	k.set.close()
	return err
}
