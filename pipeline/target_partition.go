package pipeline

import "context"

// Skip notes that the records up to and including offset were read but are
// not this partition's (another target's hits, or rejected records it does
// not receive): its committable offset moves past them. eventMillis, when
// positive, is the highest event time among them: it advances the watermark
// as the records themselves would have, so windows close on time for a
// target that selects few hits.
func (p *Partition) Skip(ctx context.Context, offset, eventMillis int64) error {
	if offset+1 <= p.offs.Next() {
		return nil
	}
	if err := p.waitFailing(); err != nil {
		return err
	}
	p.offs.Read(offset)
	p.lastRecord = p.now()
	if eventMillis > 0 && p.wm.Observe(eventMillis) {
		return p.flushClosed(ctx)
	}
	return nil
}

// Next is the next offset the partition expects (negative until the first
// record when it started at "the earliest offset").
func (p *Partition) Next() int64 { return p.offs.Next() }

// Committed is the offset last committed (or the start offset).
func (p *Partition) Committed() int64 { return p.committed }

// oldestOpenWindow is the lowest window start (Unix ms) of the open hit and
// late objects, or -1 when none is open.
func (p *Partition) oldestOpenWindow() int64 {
	oldest := int64(-1)
	for _, o := range p.open {
		if oldest < 0 || o.window < oldest {
			oldest = o.window
		}
	}
	return oldest
}
