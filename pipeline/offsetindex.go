package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"

	"github.com/hitexport/hitexport/store"
)

// The offsets index of a staged part (window layout): the Kafka offset of
// each of its records, in record order, so that the merger can leave out
// exactly the records another part already holds when two parts of one
// partition overlap partially (docs/objects.md, "Offsets index").
//
// It is a small companion object, written before its part (in the same
// upload attempt), content-addressed: its key is the part's key under
// offsetsDir plus the SHA-256 (first 16 bytes, hex) of its bytes, and the
// part's metadata names that hash (MetaOffsetsIndex). A part and the index
// its metadata names therefore always describe the same records, whatever
// copies of the part were written; a part without the metadata, or whose
// index is gone, has no index (the merger falls back to span rules).
//
// Encoding: "HXOI1", uvarint record count, uvarint first offset, then for
// each further record the uvarint difference to the previous offset (≥ 1:
// records are in offset order). A window's records of a partition are
// mostly consecutive offsets, so an index costs about one byte per record.

// MetaOffsetsIndex is the staged part's metadata naming its offsets index.
const MetaOffsetsIndex = "offsets-index"

const (
	offsetsDir   = InternalDir + "offsets/"
	offsetsMagic = "HXOI1"
	offsetsExt   = ".idx"
)

// encodeOffsets encodes offsets (ascending) as an offsets index.
func encodeOffsets(offs []int64) []byte {
	b := make([]byte, 0, len(offsetsMagic)+2*binary.MaxVarintLen64+len(offs))
	b = append(b, offsetsMagic...)
	b = binary.AppendUvarint(b, uint64(len(offs)))
	for i, o := range offs {
		if i == 0 {
			b = binary.AppendUvarint(b, uint64(o))
		} else {
			b = binary.AppendUvarint(b, uint64(o-offs[i-1]))
		}
	}
	return b
}

var errBadIndex = errors.New("malformed offsets index")

// decodeOffsets reads an index written by encodeOffsets.
func decodeOffsets(b []byte) ([]int64, error) {
	rest, ok := bytes.CutPrefix(b, []byte(offsetsMagic))
	if !ok {
		return nil, errBadIndex
	}
	r := bytes.NewReader(rest)
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(len(rest)) {
		return nil, errBadIndex
	}
	offs := make([]int64, 0, n)
	var prev int64
	for i := uint64(0); i < n; i++ {
		d, err := binary.ReadUvarint(r)
		if err != nil || d > 1<<62 || (i > 0 && d == 0) {
			return nil, errBadIndex
		}
		prev += int64(d)
		offs = append(offs, prev)
	}
	if r.Len() != 0 {
		return nil, errBadIndex
	}
	return offs, nil
}

// EncodeOffsetsIndex encodes the offsets (ascending) of a part's records as
// its offsets index; OffsetsIndexHash is the hash its part's metadata
// (MetaOffsetsIndex) and key name it by. Tests build parts with them.
func EncodeOffsetsIndex(offs []int64) []byte { return encodeOffsets(offs) }

// OffsetsIndexHash names an offsets index by its bytes.
func OffsetsIndexHash(b []byte) string { return offsetsHash(b) }

// DecodeOffsetsIndex reads an offsets index (the object OffsetsIndexKey
// names): the offsets of the part's records, in record order.
func DecodeOffsetsIndex(b []byte) ([]int64, error) { return decodeOffsets(b) }

// OffsetsIndexKey is the key of the offsets index of the staged part partKey
// whose metadata names hash (MetaOffsetsIndex).
func OffsetsIndexKey(partKey, hash string) string { return offsetsKey(partKey, hash) }

// offsetsHash names an index by its bytes.
func offsetsHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:16])
}

// offsetsKey is the key of the index with the hash of the staged part
// partKey: _hitexport/offsets/staging[-late]/<window s>/<part file>.<hash>.idx.
func offsetsKey(partKey, hash string) string {
	return offsetsDir + strings.TrimPrefix(partKey, InternalDir) + "." + hash + offsetsExt
}

// parseOffsetsKey returns the staged part an index key belongs to.
func parseOffsetsKey(key string) (StagedPart, bool) {
	rest, ok := strings.CutPrefix(key, offsetsDir)
	if !ok {
		return StagedPart{}, false
	}
	rest, ok = strings.CutSuffix(rest, offsetsExt)
	dot := strings.LastIndexByte(rest, '.')
	if !ok || dot < 0 {
		return StagedPart{}, false
	}
	return ParseStagedKey(InternalDir + rest[:dot])
}

// stagedIndex is the index of a staged part about to be uploaded.
type stagedIndex struct {
	key  string
	hash string
	data []byte
}

func newStagedIndex(partKey string, offs []int64) stagedIndex {
	data := encodeOffsets(offs)
	h := offsetsHash(data)
	return stagedIndex{key: offsetsKey(partKey, h), hash: h, data: data}
}

func (si stagedIndex) put(ctx context.Context, b store.Bucket) error {
	return b.Put(ctx, si.key, bytes.NewReader(si.data), int64(len(si.data)),
		store.PutOptions{ContentType: "application/octet-stream"})
}

// readIndex reads the offsets index of p (p.Index from its metadata) and
// checks it against p's span and count. ok is false when p has no usable
// index (none named, gone, or not matching): the caller falls back.
func (m *Merger) readIndex(ctx context.Context, p mergePart) (offs []int64, ok bool, err error) {
	if p.Index == "" {
		return nil, false, nil
	}
	rc, err := m.Bucket.Get(ctx, offsetsKey(p.Key, p.Index))
	if store.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if store.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if offsetsHash(data) != p.Index {
		m.Log.Warn("offsets index does not match its hash; ignored", "key", offsetsKey(p.Key, p.Index))
		return nil, false, nil
	}
	offs, err = decodeOffsets(data)
	if err != nil || int64(len(offs)) != p.Count || len(offs) == 0 || offs[0] != p.First || offs[len(offs)-1] != p.Last {
		m.Log.Warn("offsets index does not describe its part; ignored", "key", offsetsKey(p.Key, p.Index),
			"index_records", len(offs), "part_records", p.Count)
		return nil, false, nil
	}
	return offs, true, nil
}

// Span is a range [From, To) of record positions within a part.
type Span struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// omitted reports whether position i is in one of spans (sorted).
func omitted(spans []Span, i int64) bool {
	for _, s := range spans {
		if i < s.From {
			return false
		}
		if i < s.To {
			return true
		}
	}
	return false
}

// omitCount is the number of positions spans cover.
func omitCount(spans []Span) int64 {
	var n int64
	for _, s := range spans {
		n += s.To - s.From
	}
	return n
}

// spansOf turns a set of positions into sorted spans.
func spansOf(set []bool) []Span {
	var out []Span
	for i := 0; i < len(set); i++ {
		if !set[i] {
			continue
		}
		j := i
		for j < len(set) && set[j] {
			j++
		}
		out = append(out, Span{From: int64(i), To: int64(j)})
		i = j
	}
	return out
}

// indexCache holds the indexes read during one merge decision.
type indexCache struct {
	m    *Merger
	offs map[string][]int64 // part key + hash -> offsets (nil: none)
}

func (c *indexCache) get(ctx context.Context, p mergePart) ([]int64, bool, error) {
	if c.offs == nil {
		c.offs = map[string][]int64{}
	}
	k := p.Key + "\x00" + p.Index
	if o, ok := c.offs[k]; ok {
		return o, o != nil, nil
	}
	o, ok, err := c.m.readIndex(ctx, p)
	if err != nil {
		return nil, false, err
	}
	c.offs[k] = o
	return o, ok, nil
}

// taken is the set of offsets part q puts into a final object: its
// records [Skip, Count) less those Omit leaves out.
func (c *indexCache) taken(ctx context.Context, q mergePart, into map[int64]bool) (bool, error) {
	offs, ok, err := c.get(ctx, q)
	if !ok || err != nil {
		return false, err
	}
	for i := q.Skip; i < int64(len(offs)); i++ {
		if !omitted(q.Omit, i) {
			into[offs[i]] = true
		}
	}
	return true, nil
}

// dedup sets p.Omit to leave out the records of p whose offsets the parts
// others (of p's partition) put into final objects. It reports false (p
// unchanged) when an index needed is missing.
func (c *indexCache) dedup(ctx context.Context, p *mergePart, others []mergePart) (bool, error) {
	offs, ok, err := c.get(ctx, *p)
	if !ok || err != nil {
		return false, err
	}
	held := map[int64]bool{}
	for _, q := range others {
		if q.First > p.Last || p.First > q.Last {
			continue
		}
		ok, err := c.taken(ctx, q, held)
		if !ok || err != nil {
			return false, err
		}
	}
	set := make([]bool, len(offs))
	for i, o := range offs {
		set[i] = int64(i) >= p.Skip && (omitted(p.Omit, int64(i)) || held[o])
	}
	p.Omit = spansOf(set)
	return true, nil
}

// remaining is the number of records p puts into a final object.
func (p mergePart) remaining() int64 { return p.Count - p.Skip - omitCount(p.Omit) }
