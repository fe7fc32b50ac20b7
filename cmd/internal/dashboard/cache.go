package dashboard

import (
	"container/list"
	"sync"
	"time"
)

// cache is an LRU cache of at most max values, each loaded once by the
// first caller that misses (the others wait for it) and, with ttl > 0,
// loaded again once older than ttl. Failed loads are not kept.
type cache[V any] struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	ll  *list.List // of *cacheEntry[V], most recently used first
	m   map[string]*list.Element
}

type cacheEntry[V any] struct {
	key  string
	done chan struct{}
	at   time.Time
	v    V
	err  error
}

func newCache[V any](max int, ttl time.Duration) *cache[V] {
	return &cache[V]{max: max, ttl: ttl, ll: list.New(), m: map[string]*list.Element{}}
}

func (c *cache[V]) get(key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	if el, ok := c.m[key]; ok {
		e := el.Value.(*cacheEntry[V])
		if c.ttl == 0 || time.Since(e.at) < c.ttl {
			c.ll.MoveToFront(el)
			c.mu.Unlock()
			<-e.done
			return e.v, e.err
		}
		c.ll.Remove(el)
		delete(c.m, key)
	}
	e := &cacheEntry[V]{key: key, done: make(chan struct{}), at: time.Now()}
	c.m[key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*cacheEntry[V]).key)
	}
	c.mu.Unlock()

	e.v, e.err = load()
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.m[key]; ok && el.Value == e {
			c.ll.Remove(el)
			delete(c.m, key)
		}
		c.mu.Unlock()
	}
	return e.v, e.err
}
