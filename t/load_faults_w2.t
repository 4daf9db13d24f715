#!/usr/bin/perl
# t/load_faults.t again with worker_processes 2 (issue 9 item 11): faults and
# reloads with more than one worker, each with its own connections to the
# store and its own caches.
use strict;
use warnings;
use FindBin;
$ENV{TEST_NGINX_WORKERS} = 2;
exec $^X, "$FindBin::Bin/load_faults.t" or die "exec: $!";
