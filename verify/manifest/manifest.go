// Package manifest is the format of the manifest the generator (package gen,
// hitgen) writes and the checker (package verify) reads: one Expect per
// produced record, as NDJSON. It imports nothing of the project, so both
// sides can use it without the checker depending on the generator.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
)

// Expect is one line of the manifest.
type Expect struct {
	// ID is the hit's request_id, or for a malformed record "sha256:<hex of
	// the value>" (RejectedID).
	ID string `json:"id"`
	// Valid hits: TimeMillis is the event time.
	Valid      bool  `json:"valid"`
	TimeMillis int64 `json:"time_ms,omitempty"`
	// Reason is the expected rejection reason of a malformed record.
	Reason string `json:"reason,omitempty"`
}

// RejectedID is the manifest ID of a malformed record's value.
func RejectedID(value []byte) string {
	s := sha256.Sum256(value)
	return "sha256:" + hex.EncodeToString(s[:])
}
