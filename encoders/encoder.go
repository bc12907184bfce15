// Package encoders turns hits into the bytes of one exported object.
//
// An Encoder describes one output format (JSON array, NDJSON, OCSF); it opens a
// RecordWriter per object that streams records into an io.Writer as they arrive,
// so a window never has to be held in memory as a slice of records. Each format
// lives in its own file; New picks it by name: adding a format is adding a file,
// a case in New and its name in Formats.
package encoders

import (
	"fmt"
	"io"
)

// Record is one valid hit as the pipeline hands it to an encoder.
type Record struct {
	// Value is the hit exactly as received: one JSON object, compact (no
	// newlines), valid UTF-8. Encoders that keep the hit as given write it
	// unchanged; encoders that map it (OCSF) parse it.
	Value []byte
	// TimeMillis is the event time of the hit in Unix milliseconds, parsed
	// from its "time" field.
	TimeMillis int64
	// Topic, Partition and Offset locate the record in Kafka.
	Topic     string
	Partition int
	Offset    int64
}

// RecordWriter streams the records of one object. Write may be called any
// number of times (also zero); Close writes the trailer, if the format has one,
// and does not close the underlying io.Writer.
type RecordWriter interface {
	Write(rec Record) error
	Close() error
}

// Encoder is one output format.
type Encoder interface {
	// Format is the name used in configuration and metadata, e.g. "ndjson".
	Format() string
	// Extension is the file extension without compression, with the dot,
	// e.g. ".ndjson" or ".ocsf.ndjson".
	Extension() string
	// ContentType is the MIME type of the uncompressed object.
	ContentType() string
	// Version identifies the encoder's output; it changes whenever the bytes
	// written for the same input change.
	Version() string
	// NewWriter starts a new object written to w.
	NewWriter(w io.Writer) RecordWriter
}

// Formats lists the accepted formats, sorted: the names New knows.
func Formats() []string {
	return []string{"json", "ndjson", "ocsf", "ocsf-json"}
}

// New returns the encoder of a format. An unknown format is an error naming
// the accepted ones.
func New(format string) (Encoder, error) {
	switch format {
	case "json":
		return jsonArray{}, nil
	case "ndjson":
		return ndjson{}, nil
	case "ocsf":
		return ocsfNDJSON{}, nil
	case "ocsf-json":
		return ocsfJSON{}, nil
	default:
		return nil, fmt.Errorf("unknown format %q (accepted: %v)", format, Formats())
	}
}
