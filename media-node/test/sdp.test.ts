import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDtmfLog } from '../src/media/dtmf-log-listener.js';
import { sinkAnswer } from '../src/media/sdp.js';

const offer = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 30000 RTP/AVP 8 0 96',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:96 telephone-event/8000',
  '',
].join('\r\n');

test('the sink answers the first audio codec and telephone-event at its own address', () => {
  const sdp = sinkAnswer(offer, '127.0.0.1', 40000, 7)!;
  assert.match(sdp, /^m=audio 40000 RTP\/AVP 8 96\r$/m);
  assert.match(sdp, /^a=rtpmap:8 PCMA\/8000\r$/m);
  assert.match(sdp, /^a=rtpmap:96 telephone-event\/8000\r$/m);
  assert.match(sdp, /^c=IN IP4 127.0.0.1\r$/m);
  assert.equal(sinkAnswer('v=0\r\n', '127.0.0.1', 1), undefined);
  assert.equal(sinkAnswer(offer.replace('8 0 96', '96'), '127.0.0.1', 1), undefined);
});

test("rtpengine's DTMF log datagrams map event numbers to keys", () => {
  const msg = (event: number) =>
    Buffer.from(
      JSON.stringify({
        callid: 'c',
        source_tag: 'a',
        tags: ['a', 'b'],
        type: 'DTMF',
        event,
        duration: 200,
        volume: 10,
      }),
    );
  assert.deepEqual(parseDtmfLog(msg(5)), { callId: 'c', sourceTag: 'a', digit: '5', durationMs: 200 });
  assert.equal(parseDtmfLog(msg(10))?.digit, '*');
  assert.equal(parseDtmfLog(msg(11))?.digit, '#');
  assert.equal(parseDtmfLog(msg(16)), undefined);
  assert.equal(parseDtmfLog(Buffer.from('not json')), undefined);
});
