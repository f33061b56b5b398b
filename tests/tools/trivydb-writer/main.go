// Command trivydb-writer writes bbolt files with the real Go bbolt library
// for scangate's Trivy database reader tests, and dumps any bbolt file as
// JSON so the Rust reader's view can be compared against Go's.
//
//	trivydb-writer fixtures -o DB [-page-size N] FILE.yaml...
//	    Trivy's fixture format (integration/testdata/fixtures/db/*.yaml),
//	    loaded the way Trivy's tests load it (aquasecurity/bolt-fixtures:
//	    goccy/go-yaml, scalars written with fmt.Sprint, anything else as
//	    JSON, one transaction per file).
//	trivydb-writer synthetic -o DB -case NAME [-page-size N]
//	    Shapes the fixtures do not reach: many-keys, overflow, inline,
//	    deep, empty, churn, binary.
//	trivydb-writer dump DB
//	    Every bucket and key in key order, keys and values in hex, plus
//	    bbolt's own page statistics, as JSON on stdout.
package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"

	yaml "github.com/goccy/go-yaml"
	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: trivydb-writer fixtures|synthetic|dump ...")
	}
	var err error
	switch os.Args[1] {
	case "fixtures":
		err = cmdFixtures(os.Args[2:])
	case "synthetic":
		err = cmdSynthetic(os.Args[2:])
	case "dump":
		err = cmdDump(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "trivydb-writer:", msg)
	os.Exit(2)
}

func openNew(path string, pageSize int) (*bolt.DB, error) {
	_ = os.Remove(path)
	return bolt.Open(path, 0o600, &bolt.Options{PageSize: pageSize})
}

// fixture is one node of Trivy's fixture YAML: a bucket with pairs, or a
// key with a value.
type fixture struct {
	Bucket string    `yaml:"bucket"`
	Pairs  []fixture `yaml:"pairs"`
	Key    string    `yaml:"key"`
	Value  any       `yaml:"value"`
}

func cmdFixtures(args []string) error {
	fs := flag.NewFlagSet("fixtures", flag.ExitOnError)
	out := fs.String("o", "", "output bbolt file")
	pageSize := fs.Int("page-size", 4096, "page size")
	_ = fs.Parse(args)
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("fixtures needs -o DB and at least one YAML file")
	}
	db, err := openNew(*out, *pageSize)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, file := range fs.Args() {
		text, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var top []fixture
		if err := yaml.Unmarshal(text, &top); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			for _, f := range top {
				b, err := tx.CreateBucketIfNotExists([]byte(f.Bucket))
				if err != nil {
					return err
				}
				for _, pair := range f.Pairs {
					if err := loadPair(b, pair); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

func loadPair(b *bolt.Bucket, f fixture) error {
	if f.Bucket != "" {
		child, err := b.CreateBucketIfNotExists([]byte(f.Bucket))
		if err != nil {
			return err
		}
		for _, pair := range f.Pairs {
			if err := loadPair(child, pair); err != nil {
				return err
			}
		}
		return nil
	}
	var value []byte
	switch v := f.Value.(type) {
	case bool, int, uint64, int64, float64, string:
		value = []byte(fmt.Sprint(v))
	default:
		var err error
		if value, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return b.Put([]byte(f.Key), value)
}

func cmdSynthetic(args []string) error {
	fs := flag.NewFlagSet("synthetic", flag.ExitOnError)
	out := fs.String("o", "", "output bbolt file")
	name := fs.String("case", "", "many-keys|overflow|inline|deep|empty|churn|binary")
	pageSize := fs.Int("page-size", 4096, "page size")
	_ = fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("synthetic needs -o DB")
	}
	build, ok := cases[*name]
	if !ok {
		return fmt.Errorf("unknown case %q", *name)
	}
	db, err := openNew(*out, *pageSize)
	if err != nil {
		return err
	}
	defer db.Close()
	// A fixed seed: the same file every run, so a failure reproduces.
	rng := rand.New(rand.NewSource(19))
	return build(db, rng, *pageSize)
}

var cases = map[string]func(*bolt.DB, *rand.Rand, int) error{
	// Thousands of keys inserted in random order into one bucket (leaf
	// splits, several branch levels) and a second big bucket beside it.
	"many-keys": func(db *bolt.DB, rng *rand.Rand, _ int) error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, name := range []string{"debian 12", "vulnerability"} {
				b, err := tx.CreateBucket([]byte(name))
				if err != nil {
					return err
				}
				for _, i := range rng.Perm(30000) {
					key := fmt.Sprintf("CVE-%04d-%06d", 1999+i%27, i)
					value := fmt.Sprintf(`{"FixedVersion":"1.%d-%d","Status":%d}`, i, rng.Intn(100), i%8)
					if err := b.Put([]byte(key), []byte(value)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	},
	// Values bigger than a page (overflow pages), in a bucket big enough to
	// have branch pages too, and a huge key.
	"overflow": func(db *bolt.DB, rng *rand.Rand, pageSize int) error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("vulnerability"))
			if err != nil {
				return err
			}
			for i := 0; i < 200; i++ {
				size := rng.Intn(pageSize * 6)
				value := make([]byte, size)
				rng.Read(value)
				if err := b.Put([]byte(fmt.Sprintf("CVE-2024-%05d", i)), value); err != nil {
					return err
				}
			}
			bigKey := make([]byte, pageSize*2)
			for i := range bigKey {
				bigKey[i] = byte('a' + i%26)
			}
			return b.Put(bigKey, []byte("big key"))
		})
	},
	// Many small nested buckets (stored inline in their parent's leaf),
	// some empty, beside a few that outgrow inlining.
	"inline": func(db *bolt.DB, rng *rand.Rand, _ int) error {
		return db.Update(func(tx *bolt.Tx) error {
			src, err := tx.CreateBucket([]byte("alpine 3.19"))
			if err != nil {
				return err
			}
			for p := 0; p < 500; p++ {
				pkg, err := src.CreateBucket([]byte(fmt.Sprintf("pkg-%03d", p)))
				if err != nil {
					return err
				}
				n := p % 4
				if p%50 == 0 {
					n = 120 // too big to inline
				}
				for k := 0; k < n; k++ {
					value := fmt.Sprintf(`{"FixedVersion":"%d.%d.%d-r%d"}`, p, k, rng.Intn(9), k)
					if err := pkg.Put([]byte(fmt.Sprintf("CVE-2023-%04d", k)), []byte(value)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	},
	// Buckets nested 40 levels deep, each level with a couple of keys and a
	// sequence number.
	"deep": func(db *bolt.DB, _ *rand.Rand, _ int) error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("level-00"))
			if err != nil {
				return err
			}
			for depth := 1; depth <= 40; depth++ {
				for k := 0; k < 3; k++ {
					if err := b.Put([]byte(fmt.Sprintf("k%d", k)), []byte(fmt.Sprintf("v%d-%d", depth, k))); err != nil {
						return err
					}
				}
				for s := 0; s < depth; s++ {
					if _, err := b.NextSequence(); err != nil {
						return err
					}
				}
				if b, err = b.CreateBucket([]byte(fmt.Sprintf("level-%02d", depth))); err != nil {
					return err
				}
			}
			return nil
		})
	},
	// Empty buckets only: at the top and nested.
	"empty": func(db *bolt.DB, _ *rand.Rand, _ int) error {
		return db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("empty")); err != nil {
				return err
			}
			b, err := tx.CreateBucket([]byte("outer"))
			if err != nil {
				return err
			}
			_, err = b.CreateBucket([]byte("inner-empty"))
			return err
		})
	},
	// Many transactions: fill, then delete half the keys and a whole
	// bucket, then rewrite some values: freed pages must not be read.
	"churn": func(db *bolt.DB, rng *rand.Rand, _ int) error {
		for round := 0; round < 5; round++ {
			err := db.Update(func(tx *bolt.Tx) error {
				for _, name := range []string{"ubuntu 22.04", "scratch"} {
					b, err := tx.CreateBucketIfNotExists([]byte(name))
					if err != nil {
						return err
					}
					for _, i := range rng.Perm(4000) {
						key := []byte(fmt.Sprintf("pkg-%05d", i))
						if rng.Intn(3) == 0 {
							if err := b.Delete(key); err != nil {
								return err
							}
							continue
						}
						if err := b.Put(key, []byte(fmt.Sprintf("round %d value %d", round, rng.Intn(1<<20)))); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("scratch")) })
	},
	// Binary keys and values: NUL and 0xff bytes, empty values, integer
	// keys big-endian so byte order matters.
	"binary": func(db *bolt.DB, rng *rand.Rand, _ int) error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte{0x00, 0xff, 0x00})
			if err != nil {
				return err
			}
			for i := 0; i < 3000; i++ {
				key := make([]byte, 8)
				binary.BigEndian.PutUint64(key, rng.Uint64())
				value := make([]byte, rng.Intn(40))
				rng.Read(value)
				if err := b.Put(key, value); err != nil {
					return err
				}
			}
			if err := b.Put([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil); err != nil {
				return err
			}
			return b.Put([]byte{0x00}, []byte{})
		})
	},
}

// entry is one key of the dump: where it is (bucket path), the key, and
// the value or, for a nested bucket, its sequence.
type entry struct {
	Path     []string `json:"path"`
	Key      string   `json:"key"`
	Value    *string  `json:"value"`
	Sequence *uint64  `json:"sequence,omitempty"`
}

type dump struct {
	PageSize int              `json:"page_size"`
	Txid     int              `json:"txid"`
	Pages    int64            `json:"pages"`
	Entries  []entry          `json:"entries"`
	Stats    bolt.BucketStats `json:"stats"`
}

func cmdDump(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("dump needs one DB path")
	}
	db, err := bolt.Open(args[0], 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	var d dump
	err = db.View(func(tx *bolt.Tx) error {
		d.PageSize = db.Info().PageSize
		d.Txid = tx.ID()
		d.Pages = tx.Size() / int64(d.PageSize)
		d.Entries = []entry{}
		d.Stats = tx.Cursor().Bucket().Stats()
		return walk(tx.Cursor().Bucket(), nil, &d.Entries)
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(d)
}

func walk(b *bolt.Bucket, path []string, out *[]entry) error {
	return b.ForEach(func(k, v []byte) error {
		e := entry{Path: append([]string{}, path...), Key: hex.EncodeToString(k)}
		// A nested bucket's value is nil; an empty value is not.
		if child := b.Bucket(k); child != nil && v == nil {
			seq := child.Sequence()
			e.Sequence = &seq
			*out = append(*out, e)
			return walk(child, append(path, e.Key), out)
		}
		s := hex.EncodeToString(v)
		e.Value = &s
		*out = append(*out, e)
		return nil
	})
}
