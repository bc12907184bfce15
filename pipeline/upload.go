package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hitexport/hitexport/store"
)

// Uploader writes finished objects to the bucket. It owns the retry schedule
// (minio-go's own retries are off) and fences zombie writers: a key is
// created only if absent, and replaced only if it holds fewer records (a lower
// last offset) than the object being written, with the ETag it had when read.
type Uploader struct {
	Bucket   store.Bucket
	Schedule [][]time.Duration
	// AttemptTimeout bounds one attempt.
	AttemptTimeout time.Duration
	Log            *slog.Logger
	Metrics        *Metrics
	Health         *Health
	// Sleep waits d or until ctx is done (injected by tests).
	Sleep func(ctx context.Context, d time.Duration) error
	// Isolated: this uploader is one target's among several; its Health is
	// the target's own and does not set the deployment's degraded gauge.
	Isolated bool
}

// Upload is one finished object to write.
type Upload struct {
	Key      string
	Spool    *Spool
	Opts     store.PutOptions
	Range    Range
	Kind     Kind
	Format   string
	Count    int
	OnPaused func(bool) // called with true when the first attempt failed, false when it succeeds
	// OnAttempt, when set, is called after each attempt that ended on its
	// own (not by ctx) with its error (nil: success or superseded).
	OnAttempt func(err error)
	// Before, when set, is called in each attempt right before the object
	// is written (not when the key is superseded); its error fails the
	// attempt (window layout: the staged part's offsets index).
	Before func(ctx context.Context) error
}

// Outcome says what Upload did.
type Outcome struct {
	// Superseded: the bucket already held this key with the same or a later
	// last offset; nothing was written. Existing is that object's span.
	Superseded bool
	Existing   Range
	Attempts   int
}

// Upload writes u, retrying on the schedule until it succeeds or ctx ends.
// It returns an error only when ctx ended.
func (up *Uploader) Upload(ctx context.Context, u Upload) (Outcome, error) {
	sleep := up.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	attempt := 0
	paused := false
	for {
		attempt++
		if attempt > 1 && up.Metrics != nil {
			up.Metrics.UploadRetries.Inc()
		}
		start := time.Now()
		out, err := up.once(ctx, u)
		if err == nil {
			if up.Health != nil {
				up.Health.SuccessOf(u.Key)
				up.syncDegraded()
			}
			if paused && u.OnPaused != nil {
				u.OnPaused(false)
			}
			if u.OnAttempt != nil {
				u.OnAttempt(nil)
			}
			out.Attempts = attempt
			if up.Metrics != nil && !out.Superseded {
				up.Metrics.UploadSeconds.Observe(time.Since(start).Seconds())
				up.Metrics.Objects.WithLabelValues(u.Format, string(u.Kind)).Inc()
				up.Metrics.Bytes.WithLabelValues(u.Format).Add(float64(u.Spool.Size()))
			}
			return out, nil
		}
		if ctx.Err() != nil {
			if up.Health != nil {
				up.Health.Abandon(u.Key)
			}
			return Outcome{Attempts: attempt}, ctx.Err()
		}
		class := "retryable"
		if store.IsPermanent(err) {
			class = "permanent"
		}
		if up.Health != nil {
			up.Health.FailureOf(u.Key, err)
			up.syncDegraded()
		}
		if up.Metrics != nil {
			up.Metrics.UploadFailures.WithLabelValues(class).Inc()
		}
		if u.OnAttempt != nil {
			u.OnAttempt(err)
		}
		if !paused && u.OnPaused != nil {
			paused = true
			u.OnPaused(true)
		}
		wait := up.wait(attempt)
		if up.Log != nil {
			level := slog.LevelWarn
			if class == "permanent" || attempt > len(up.Schedule[0]) {
				level = slog.LevelError
			}
			up.Log.Log(ctx, level, "upload failed; offsets stay uncommitted and consumption of the partition is paused until it succeeds",
				"key", u.Key, "attempt", attempt, "class", class, "retry_in", wait.String(), "error", err.Error())
		}
		if err := sleep(ctx, wait); err != nil {
			if up.Health != nil {
				up.Health.Abandon(u.Key)
			}
			return Outcome{Attempts: attempt}, err
		}
	}
}

// syncDegraded keeps the degraded gauge current without anyone polling
// /readyz (one status computation per upload attempt, not per record).
func (up *Uploader) syncDegraded() {
	if up.Metrics == nil || up.Isolated {
		return
	}
	v := 0.0
	if up.Health.Status().Degraded {
		v = 1
	}
	up.Metrics.Degraded.Set(v)
}

// wait is the pause after the given failed attempt (1-based): the schedule's
// cycles in order, then the last cycle again and again.
func (up *Uploader) wait(attempt int) time.Duration {
	i := attempt - 1
	for _, cyc := range up.Schedule {
		if i < len(cyc) {
			return cyc[i]
		}
		i -= len(cyc)
	}
	last := up.Schedule[len(up.Schedule)-1]
	return last[i%len(last)]
}

// maxPreconditionRounds bounds the read-compare-write rounds of one attempt
// when another writer keeps changing the key.
const maxPreconditionRounds = 5

func (up *Uploader) once(ctx context.Context, u Upload) (Outcome, error) {
	if up.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, up.AttemptTimeout)
		defer cancel()
	}
	for round := 0; round < maxPreconditionRounds; round++ {
		opts := u.Opts
		info, err := up.Bucket.Stat(ctx, u.Key)
		switch {
		case err == nil:
			last, perr := strconv.ParseInt(info.Metadata[MetaLastOffset], 10, 64)
			if perr == nil && last >= u.Range.Last {
				if up.Metrics != nil {
					up.Metrics.Superseded.Inc()
				}
				first, _ := strconv.ParseInt(info.Metadata[MetaFirstOffset], 10, 64)
				return Outcome{Superseded: true, Existing: Range{Window: u.Range.Window, First: first, Last: last}}, nil
			}
			opts.IfMatch = info.ETag
		case store.IsNotFound(err):
			opts.IfNoneMatch = true
		default:
			return Outcome{}, err
		}
		if u.Before != nil {
			if err := u.Before(ctx); err != nil {
				return Outcome{}, err
			}
		}
		err = up.Bucket.Put(ctx, u.Key, u.Spool.Reader(), u.Spool.Size(), opts)
		if err == nil {
			return Outcome{}, nil
		}
		if !store.IsPreconditionFailed(err) {
			return Outcome{}, err
		}
		// Another writer got there between our read and write: look again.
	}
	return Outcome{}, fmt.Errorf("upload %s: key kept changing under conditional writes: %w", u.Key, errors.New("contention"))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
