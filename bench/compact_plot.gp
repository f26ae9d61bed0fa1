# compact_plot.gp - user write throughput over time during a long overwrite run under
# compaction (issue 4), from the CSV that `bench_compact -T` writes.
#
#   gnuplot -c bench/compact_plot.gp CSV PNG [TITLE]
#
# CSV columns: time_s, puts_per_s (completed puts per interval, scaled to a second),
# free_segments, wa_so_far. Puts/s on the left axis, free segments on the right one, so a
# dip in throughput can be read against the free-space level that compaction keeps.
csv = ARG1
png = ARG2
title = ARGC >= 3 ? ARG3 : "user puts/s during overwrites under compaction"

set terminal pngcairo size 1200,600 font ",10"
set output png
set datafile separator ","
set key autotitle columnhead
set key top right
set title title
set xlabel "time (s)"
set ylabel "user puts/s (per 100 ms interval)"
set y2label "free segments"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid
# Free segments first, in a light colour, so the throughput line is drawn over it.
plot csv using 1:3 axes x1y2 with lines lw 1 lc rgb "#f4a6a6" title "free segments (right axis)", \
     csv using 1:2 with lines lw 1.5 lc rgb "#1f4e9c" title "user puts/s"
