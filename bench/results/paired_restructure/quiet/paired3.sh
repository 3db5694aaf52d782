#!/bin/bash
# quiet paired rerun: pre = c52de38 (/work/wt/runs), post = main HEAD; order pre post post pre pre post
OUT=/work/main/bench/results/paired_restructure/quiet
i=0
for tree in pre post post pre pre post; do
  i=$((i+1))
  dir=$([ $tree = pre ] && echo /work/wt/runs || echo /work/main)
  cd $dir
  echo "# $i $tree $(git -C $dir rev-parse --short HEAD) start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=$dir python bench/sampler_scaling.py --workers 1 2 --repeats 3 --policies random awr --capacity_workers --json $OUT/sampler_scaling_${tree}_$i.json > $OUT/sampler_scaling_${tree}_$i.txt 2>&1
  echo "# sampler rc $? $(date -u +%H:%M:%S)"
  PYTHONPATH=$dir python bench/env_speed.py --rounds 3 --steps 2000 --characters humanoid --json $OUT/env_speed_${tree}_$i.json > $OUT/env_speed_${tree}_$i.txt 2>&1
  echo "# env rc $? $(date -u +%H:%M:%S)"
done
echo "# done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
