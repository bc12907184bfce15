// Command hitexport exports WAF hits from a Kafka topic to an S3 bucket in
// event-time windows. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
)

const usage = `usage: hitexport <command>

commands:
  run      export hits from Kafka to the bucket until SIGTERM/SIGINT
  check    test the integration: config, Kafka and topic, bucket, a test write
  verify   read the bucket back and check it against the topic (see README)
  replay   re-export the records of a time range (backfill), without group commits:
             replay --from TIME [--to TIME] [--partitions 0,2] [--dry-run]
  offsets  show the group's committed offsets, lag and resume state; reset them:
             offsets [--to-earliest | --to-latest | --to-time TIME] [--apply]

TIME is RFC 3339 (2026-11-28T16:00:00Z) or Unix seconds. "hitexport COMMAND -h"
lists a command's flags.

Configuration is read from HITEXPORT_* environment variables (see README.md).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "run":
		os.Exit(run())
	case "check":
		os.Exit(check())
	case "verify":
		os.Exit(verify(args))
	case "replay":
		os.Exit(replay(args))
	case "offsets":
		os.Exit(offsets(args))
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "hitexport: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
}

func loadConfig() *config.Config {
	cfg, err := config.Parse(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitexport: invalid configuration: "+err.Error())
		os.Exit(2)
	}
	return cfg
}

func run() int { return cli.Run(loadConfig()) }

func check() int {
	cfg := loadConfig()
	ok := cli.Check(context.Background(), cfg, func(r cli.CheckResult) {
		status := "ok  "
		if !r.OK {
			status = "FAIL"
		}
		fmt.Printf("%s %-8s %s\n", status, r.Name, r.Msg)
	})
	if !ok {
		return 1
	}
	return 0
}

func verify(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	var o cli.VerifyOptions
	fs.StringVar(&o.Manifest, "manifest", "", "NDJSON manifest of what was produced (from hitgen); without it only duplicates and offsets are checked")
	fs.DurationVar(&o.Wait, "wait", 0, "wait up to this long for the committed offsets to reach the end offsets")
	fs.BoolVar(&o.List, "list", false, "list every object with its metadata")
	fs.IntVar(&o.Sample, "sample", 0, "print this many decoded records of the first object")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	_ = fs.Parse(args)
	cfg := loadConfig()
	ctx, cancel := signalContext()
	defer cancel()
	ok, err := cli.Verify(ctx, cfg, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitexport verify:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// parsePartitions reads "0,2,5".
func parsePartitions(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--partitions: %q is not a partition number (expected e.g. 0,2,5)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func usageError(cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "hitexport %s: %v\n", cmd, err)
	return 2
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func replay(args []string) int {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	from := fs.String("from", "", "start: records whose Kafka timestamp is at or after TIME (RFC 3339 or Unix seconds); required")
	to := fs.String("to", "", "end: records whose Kafka timestamp is before TIME (default: up to the end offsets at the start)")
	parts := fs.String("partitions", "", "comma-separated partitions (default: all)")
	var o cli.ReplayOptions
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the offset ranges and stop")
	fs.BoolVar(&o.IgnoreBucket, "ignore-bucket", false, "do not skip records already in objects in the bucket (the uploader's fencing still applies)")
	fs.DurationVar(&o.Lookback, "lookback", 24*time.Hour, "also consult objects of windows starting this long before --from (late and rejected objects reaching into the range)")
	fs.IntVar(&o.Parallel, "parallel", 4, "partitions replayed at once")
	_ = fs.Parse(args)
	if *from == "" {
		return usageError("replay", errors.New("--from is required"))
	}
	var err error
	if o.From, err = cli.ParseTime(*from); err != nil {
		return usageError("replay", fmt.Errorf("--from: %w", err))
	}
	if *to != "" {
		if o.To, err = cli.ParseTime(*to); err != nil {
			return usageError("replay", fmt.Errorf("--to: %w", err))
		}
	}
	if o.Partitions, err = parsePartitions(*parts); err != nil {
		return usageError("replay", err)
	}
	cfg := loadConfig()
	log := cli.NewLogger(cfg)
	o.Progress, o.ProgressEvery = os.Stderr, 10*time.Second
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		o.ProgressEvery = time.Second
	}
	ctx, cancel := signalContext()
	defer cancel()
	if _, err := cli.Replay(ctx, cfg, o, log, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hitexport replay:", err)
		return 1
	}
	return 0
}

func offsets(args []string) int {
	fs := flag.NewFlagSet("offsets", flag.ExitOnError)
	toTime := fs.String("to-time", "", "reset target: per partition the first offset whose Kafka timestamp is at or after TIME")
	earliest := fs.Bool("to-earliest", false, "reset target: the earliest offsets still in the topic")
	latest := fs.Bool("to-latest", false, "reset target: the end offsets (skips everything not yet exported)")
	parts := fs.String("partitions", "", "comma-separated partitions (default: all)")
	var o cli.OffsetsOptions
	fs.BoolVar(&o.Apply, "apply", false, "commit the reset (default: dry run); the group must have no active members")
	fs.BoolVar(&o.JSON, "json", false, "print JSON")
	_ = fs.Parse(args)
	n := 0
	if *toTime != "" {
		n++
		o.Reset = cli.ResetTime
		t, err := cli.ParseTime(*toTime)
		if err != nil {
			return usageError("offsets", fmt.Errorf("--to-time: %w", err))
		}
		o.Time = t
	}
	if *earliest {
		n++
		o.Reset = cli.ResetEarliest
	}
	if *latest {
		n++
		o.Reset = cli.ResetLatest
	}
	if n > 1 {
		return usageError("offsets", errors.New("choose one of --to-time, --to-earliest, --to-latest"))
	}
	if o.Apply && n == 0 {
		return usageError("offsets", errors.New("--apply needs a reset target: --to-time, --to-earliest or --to-latest"))
	}
	var err error
	if o.Partitions, err = parsePartitions(*parts); err != nil {
		return usageError("offsets", err)
	}
	cfg := loadConfig()
	ctx, cancel := signalContext()
	defer cancel()
	if _, err := cli.Offsets(ctx, cfg, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hitexport offsets:", err)
		return 1
	}
	return 0
}
