package poll

import "sync"

// roundRobin holds the runs waiting for a worker, one FIFO queue per feed,
// and hands them out in turn across the feeds that have work: after a run
// of one feed comes a run of the next feed with work, so a burst in one
// feed puts at most one of its runs before the next run of any other.
type roundRobin struct {
	queues [][]func()
	next   int // the feed whose turn it is: the one after the last served (taken modulo the feeds at each pop, so a feed added since gets its turn)
}

// push queues run f of feed i.
func (q *roundRobin) push(i int, f func()) {
	for len(q.queues) <= i {
		q.queues = append(q.queues, nil)
	}
	q.queues[i] = append(q.queues[i], f)
}

// pop returns the next run: the oldest of the first feed with work from
// the one whose turn it is; false if none waits.
func (q *roundRobin) pop() (func(), bool) {
	n := len(q.queues)
	for k := range n {
		i := (q.next + k) % n
		if len(q.queues[i]) == 0 {
			continue
		}
		f := q.queues[i][0]
		q.queues[i][0] = nil
		q.queues[i] = q.queues[i][1:]
		q.next = i + 1
		return f, true
	}
	return nil, false
}

// dispatcher runs the feeds' runs on at most workers goroutines, taken in
// roundRobin order. Workers start when runs are queued and end when none
// waits, so a dispatcher needs no closing.
type dispatcher struct {
	workers int

	mu      sync.Mutex
	q       roundRobin
	running int
}

// submit queues run f of feed i; it runs when a worker takes it.
func (d *dispatcher) submit(i int, f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.q.push(i, f)
	if d.running < d.workers {
		d.running++
		go d.work()
	}
}

func (d *dispatcher) work() {
	for {
		d.mu.Lock()
		f, ok := d.q.pop()
		if !ok {
			d.running--
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		f()
	}
}
