// One sample by hand: which training point and which weight the chain rule follows, and the
// server's latest `sample` answer, refreshed as training goes on without slowing it down.

// The answer is computed under the engine lock: one request at a time, and while training runs
// at most a few a second, so following a sample never slows the run down.
const SAMPLE_REFRESH_MS = 300;
const FIRST_WEIGHT = Object.freeze({ layer: 0, out_neuron: 0, in_neuron: 0 });

export function createSampleFollowing({ ask }) {
  const s = { open: false, index: 0, weight: { ...FIRST_WEIGHT }, check: false, reply: null, inFlight: false, sentAt: 0 };

  function request() {
    s.inFlight = true;
    s.sentAt = performance.now();
    ask({ index: s.index, weight: s.weight, check: s.check });
  }

  return {
    state: s,
    request,
    setOpen(open) {
      s.open = open;
      if (open) request();
      else s.reply = null;
    },
    follow(index) {
      s.index = index;
      s.check = false;
      request();
    },
    chooseWeight(weight) {
      s.weight = weight;
      s.check = false;
      request();
    },
    checkByHand() {
      s.check = true;
      request();
    },
    received(reply) {
      s.inFlight = false;
      if (s.open) s.reply = reply;
    },
    // The point or the weight is gone (new data, a smaller model): no stale numbers are kept,
    // and a missing weight falls back to the first one.
    refused(field) {
      s.inFlight = false;
      s.reply = null;
      if (field === "weight" && s.open) {
        s.weight = { ...FIRST_WEIGHT };
        s.check = false;
        request();
      }
    },
    refresh(frame) {
      if (!s.open || s.inFlight || !s.reply || s.reply.step === frame.step) return;
      if (frame.status === "running" && performance.now() - s.sentAt < SAMPLE_REFRESH_MS) return;
      request();
    },
  };
}
