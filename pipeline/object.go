package pipeline

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
)

// Kind says what an object holds.
type Kind string

// The object kinds.
const (
	KindHits     Kind = "hits"     // on-time hits of a window
	KindLate     Kind = "late"     // hits that arrived after their window closed
	KindRejected Kind = "rejected" // records that are not valid hits
)

// Layout fixes the encoding of objects. Keys are made by Key (key.go); a
// key prefix is the bucket's business (store.WithPrefix).
type Layout struct {
	Encoder     encoders.Encoder
	Compression encoders.Compression
	Window      time.Duration
	// Keys is the key template (the zero value: DefaultKeyTemplate) and
	// Integration the name its {integration} stands for.
	Keys        KeyTemplate
	Integration string
}

// Ext is the full extension of hit objects, e.g. ".ndjson.zst".
func (l Layout) Ext() string { return l.Encoder.Extension() + l.Compression.Extension() }

// EncoderFor is the encoder of objects of the kind: the configured one for
// hits and late hits, encoders.Rejected for rejected records.
func (l Layout) EncoderFor(kind Kind) encoders.Encoder {
	if kind == KindRejected {
		return encoders.Rejected
	}
	return l.Encoder
}

// ContentType is the Content-Type of objects of the kind: the compressed
// file's type (application/gzip, application/zstd) or, uncompressed, the
// encoder's (application/json, application/x-ndjson). Objects carry no
// Content-Encoding (see encoders.Compression.ContentType).
func (l Layout) ContentType(kind Kind) string {
	return l.Compression.ContentType(l.EncoderFor(kind).ContentType())
}

// Key is Key of the object of the kind, window start (Unix ms), topic,
// partition and first offset in this layout.
func (l Layout) Key(kind Kind, windowStart int64, topic string, partition int, first int64) string {
	return Key(ObjectKey{Kind: kind, Dir: l.Keys.Dir(windowStart, l.Integration), Window: windowStart, Topic: topic,
		Partition: partition, First: first, Ext: l.EncoderFor(kind).Extension(), Compression: l.Compression})
}

// Metadata keys carried by every object (as x-amz-meta-*).
const (
	MetaTopic          = "topic"
	MetaPartition      = "partition"
	MetaFirstOffset    = "first-offset"
	MetaLastOffset     = "last-offset"
	MetaRecordCount    = "record-count"
	MetaWindowStart    = "window-start"
	MetaWindowEnd      = "window-end"
	MetaFormat         = "format"
	MetaCompression    = "compression"
	MetaEncoderVersion = "encoder-version"
	MetaKind           = "kind"
)

// object is one object under construction: records stream through the
// encoder and the compressor into a spool.
type object struct {
	kind        Kind
	enc         encoders.Encoder
	window      int64 // window start, Unix ms (rejected: of the first record's Kafka time)
	span        int64 // Range.Window of the object's span (RejectedWindow for rejected records)
	first, last int64
	count       int
	raw         int64 // uncompressed bytes, for the size split
	opened      time.Time
	// offsets of the records, kept when track is set (staged parts of the
	// window layout: their offsets index).
	track   bool
	offsets []int64

	// codec compresses the object's bytes: the layout's compression, or
	// the staged codec of a staged part (stagedCodec).
	codec encoders.Compression
	spool *Spool
	comp  io.WriteCloser
	rw    encoders.RecordWriter
	cw    countingWriter
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newObject(kind Kind, window, span, first int64, now time.Time, l Layout, spool *Spool) (*object, error) {
	return newObjectIn(kind, window, span, first, now, l, l.Compression, spool)
}

// newObjectIn is newObject with its bytes compressed by codec instead of
// the layout's compression (a staged part: staging.go).
func newObjectIn(kind Kind, window, span, first int64, now time.Time, l Layout, codec encoders.Compression, spool *Spool) (*object, error) {
	o := &object{kind: kind, enc: l.EncoderFor(kind), window: window, span: span, first: first, last: first, opened: now, spool: spool,
		codec: codec}
	comp, err := codec.NewWriter(spool)
	if err != nil {
		return nil, err
	}
	o.comp = comp
	o.cw.w = comp
	o.rw = o.enc.NewWriter(&o.cw)
	return o, nil
}

// key is the object's key.
func (o *object) key(l Layout, topic string, partition int) string {
	return l.Key(o.kind, o.window, topic, partition, o.first)
}

func (o *object) add(rec encoders.Record) error {
	if err := o.rw.Write(rec); err != nil {
		return err
	}
	o.count++
	o.last = rec.Offset
	o.raw = o.cw.n
	if o.track {
		o.offsets = append(o.offsets, rec.Offset)
	}
	return nil
}

// finish writes the trailer and flushes the compressor; the spool then holds
// the whole object.
func (o *object) finish() error {
	if err := o.rw.Close(); err != nil {
		return err
	}
	if err := o.comp.Close(); err != nil {
		return err
	}
	return o.spool.Flush()
}

// discard releases the spool without uploading.
func (o *object) discard() {
	_ = o.comp.Close()
	_ = o.spool.Close()
}

func (o *object) metadata(l Layout, topic string, partition int) map[string]string {
	format := o.enc.Format()
	if mf, ok := o.enc.(interface{ MetadataFormat() string }); ok {
		format = mf.MetadataFormat()
	}
	return map[string]string{
		MetaTopic:          topic,
		MetaPartition:      strconv.Itoa(partition),
		MetaFirstOffset:    strconv.FormatInt(o.first, 10),
		MetaLastOffset:     strconv.FormatInt(o.last, 10),
		MetaRecordCount:    strconv.Itoa(o.count),
		MetaWindowStart:    time.UnixMilli(o.window).UTC().Format(time.RFC3339),
		MetaWindowEnd:      time.UnixMilli(o.window).Add(l.Window).UTC().Format(time.RFC3339),
		MetaFormat:         format,
		MetaCompression:    string(l.Compression),
		MetaEncoderVersion: o.enc.Version(),
		MetaKind:           string(o.kind),
	}
}

// Rejected is one line of a rejected object.
type Rejected struct {
	Topic     string      `json:"topic"`
	Partition int         `json:"partition"`
	Offset    int64       `json:"offset"`
	Reason    hits.Reason `json:"reason"`
	KafkaTime string      `json:"kafka_time,omitempty"`
	Key       string      `json:"key_base64,omitempty"`
	Size      int         `json:"size"`
	// Value is the record's bytes, base64 (standard encoding), exactly as read.
	Value string `json:"value_base64"`
}

// rejectedLine builds the JSON line for a rejected record.
func rejectedLine(topic string, partition int, offset int64, reason hits.Reason, kafkaTime time.Time, key, value []byte) ([]byte, error) {
	rj := Rejected{Topic: topic, Partition: partition, Offset: offset, Reason: reason, Size: len(value),
		Value: base64.StdEncoding.EncodeToString(value)}
	if !kafkaTime.IsZero() {
		rj.KafkaTime = kafkaTime.UTC().Format(time.RFC3339Nano)
	}
	if len(key) > 0 {
		rj.Key = base64.StdEncoding.EncodeToString(key)
	}
	b, err := json.Marshal(rj)
	if err != nil {
		return nil, fmt.Errorf("rejected line: %w", err)
	}
	return b, nil
}
