package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// zoneOverloads re-declares the standard timestamp accessors that take a
// time zone (now.getHours("Europe/Paris")) with bindings that load each zone
// once: the standard ones call time.LoadLocation on every evaluation, which
// costs tens of microseconds. Semantics are the standard ones.
func zoneOverloads() []cel.EnvOption {
	acc := func(function, overload string, get func(time.Time) int) cel.EnvOption {
		return cel.Function(function,
			cel.MemberOverload(overload, []*cel.Type{cel.TimestampType, cel.StringType}, cel.IntType,
				cel.BinaryBinding(func(ts, tz ref.Val) ref.Val {
					t, ok := ts.(types.Timestamp)
					if !ok {
						return types.MaybeNoSuchOverloadErr(ts)
					}
					name, ok := tz.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(tz)
					}
					loc, err := zone(string(name))
					if err != nil {
						return types.NewErrFromString(err.Error())
					}
					return types.Int(get(t.In(loc)))
				})))
	}
	return []cel.EnvOption{
		acc(overloads.TimeGetFullYear, overloads.TimestampToYearWithTz,
			func(t time.Time) int { return t.Year() }),
		acc(overloads.TimeGetMonth, overloads.TimestampToMonthWithTz,
			func(t time.Time) int { return int(t.Month()) - 1 }),
		acc(overloads.TimeGetDayOfYear, overloads.TimestampToDayOfYearWithTz,
			func(t time.Time) int { return t.YearDay() - 1 }),
		acc(overloads.TimeGetDayOfMonth, overloads.TimestampToDayOfMonthZeroBasedWithTz,
			func(t time.Time) int { return t.Day() - 1 }),
		acc(overloads.TimeGetDate, overloads.TimestampToDayOfMonthOneBasedWithTz,
			func(t time.Time) int { return t.Day() }),
		acc(overloads.TimeGetDayOfWeek, overloads.TimestampToDayOfWeekWithTz,
			func(t time.Time) int { return int(t.Weekday()) }),
		acc(overloads.TimeGetHours, overloads.TimestampToHoursWithTz,
			func(t time.Time) int { return t.Hour() }),
		acc(overloads.TimeGetMinutes, overloads.TimestampToMinutesWithTz,
			func(t time.Time) int { return t.Minute() }),
		acc(overloads.TimeGetSeconds, overloads.TimestampToSecondsWithTz,
			func(t time.Time) int { return t.Second() }),
		acc(overloads.TimeGetMilliseconds, overloads.TimestampToMillisecondsWithTz,
			func(t time.Time) int { return t.Nanosecond() / 1e6 }),
	}
}

// maxZones bounds the zone cache. The zone argument may come from args, so
// only zones that load are kept, and only this many.
const maxZones = 1024

var (
	zones     sync.Map // string → *time.Location
	zoneCount atomic.Int32
)

// zone resolves a time zone name ("Europe/Paris") or a UTC offset ("+05:30",
// "-08:00"), as CEL does.
func zone(name string) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	hh, mm, isOffset := strings.Cut(name, ":")
	if !isOffset {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, err
		}
		if zoneCount.Load() < maxZones {
			if _, loaded := zones.LoadOrStore(name, loc); !loaded {
				zoneCount.Add(1)
			}
		}
		return loc, nil
	}
	hr, err := strconv.Atoi(hh)
	if err != nil {
		return nil, err
	}
	mins, err := strconv.Atoi(mm)
	if err != nil {
		return nil, err
	}
	if hr < -23 || hr > 23 {
		return nil, fmt.Errorf("timezone offset hours out of range [-23, 23]: %s", name)
	}
	if mins < 0 || mins > 59 {
		return nil, fmt.Errorf("timezone offset minutes out of range [0, 59]: %s", name)
	}
	offset := hr*60 + mins
	if strings.HasPrefix(hh, "-") {
		offset = hr*60 - mins
	}
	return time.FixedZone("", offset*60), nil
}
