// Package tick puts halod's periodic work on one grid: a timer meant to fire an
// interval from now fires instead at the last multiple of the interval (counted from the
// Unix epoch) that is not later than that. Work sharing an interval then wakes the
// process once, together, instead of once each at phases that drift apart: 50 VRRP
// instances at 100 ms send their adverts in one burst (as keepalived's single thread
// does), so the backup reads them in one wake-up, and a check every 200 ms lands on a 1 s
// advert once a second. The period stays the interval, never longer; only the first one
// after a start or a re-arm off the grid is shorter, which makes an advert or a check
// early, never late.
package tick

import "time"

// Next returns the time in (now, now+every] where periodic work due every every fires
// next. every ≤ 0 returns now.
func Next(now time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return now
	}
	// The offset comes from the wall clock, the result from now, so it keeps now's
	// monotonic reading: a wall-clock step moves the grid, never the period.
	end := now.Add(every)
	off := end.UnixNano() % int64(every)
	if off < 0 {
		off += int64(every) // before 1970: the remainder is negative
	}
	return end.Add(-time.Duration(off))
}
