# SPDX-License-Identifier: MIT
# Every module loads, and the 64-bit integer guard does its job.
use strict;
use warnings;

use Config;
use Test::More;

use_ok($_) for qw(Wire Wire::Error Wire::F32 Wire::Notation Wire::Vectors Wire::FrameParser
                  Wire::IO Wire::Interop Wire::Layout);

cmp_ok($Config{ivsize}, '>=', 8, 'this perl has 64-bit integers');
ok(eval { Wire::_require_64bit(8) }, 'ivsize 8 is accepted');
ok(!eval { Wire::_require_64bit(4) }, 'ivsize 4 is refused');
like($@, qr/64-bit integers.*ivsize 4/, '... with a message that says why');

done_testing;
