package metrics

import "github.com/halo-lb/halo/supervisor"

// allTransitions returns counted, completed with every other change between two states at
// 0, in a fixed order. A counter series that appears with its first increment hides that
// increment from increase() and rate(), so HaloFlapping would need one transition more
// than it says; exported at 0 from the start, the first change counts.
func allTransitions(counted []supervisor.TransitionCount) []supervisor.TransitionCount {
	type key struct{ from, to string }
	seen := make(map[key]uint64, len(counted))
	for _, tc := range counted {
		seen[key{tc.From, tc.To}] += tc.Count
	}
	out := make([]supervisor.TransitionCount, 0, 12+len(counted))
	for _, from := range states() {
		for _, to := range states() {
			if from == to {
				continue
			}
			k := key{from, to}
			out = append(out, supervisor.TransitionCount{From: from, To: to, Count: seen[k]})
			delete(seen, k)
		}
	}
	// A state this list does not know (none today) is still exported, after the others.
	for _, tc := range counted {
		if n, ok := seen[key{tc.From, tc.To}]; ok {
			out = append(out, supervisor.TransitionCount{From: tc.From, To: tc.To, Count: n})
			delete(seen, key{tc.From, tc.To})
		}
	}
	return out
}
