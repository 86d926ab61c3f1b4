package targets_test

import (
	"context"
	"fmt"

	"github.com/rawprobe/rawprobe/internal/targets"
)

func ExampleSet_Order() {
	ports, _ := targets.ParsePorts("22,80")
	b := &targets.Builder{Ports: ports}
	b.Add(context.Background(), "198.18.0.0/30")
	b.Exclude("198.18.0.3")
	set, _ := b.Build()
	for i := uint64(1); i <= 2; i++ {
		shard := targets.Shard{Index: i, Count: 2}
		fmt.Print(shard, ":")
		for ap := range set.Order(7, shard) {
			fmt.Print(" ", ap)
		}
		fmt.Println()
	}
	// Output:
	// 1/2: 198.18.0.0:22 198.18.0.1:22 198.18.0.1:80
	// 2/2: 198.18.0.2:80 198.18.0.2:22 198.18.0.0:80
}
