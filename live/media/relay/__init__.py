"""The pass-through relay: feeds, their sources, viewers' outputs, and the `Relay` that holds them.

    throttle.py  at most one keyframe request a second per source
    gop.py       the newest group of pictures, for joiners
    output.py    one viewer's bounded queue of frames
    source.py    one kind of one feed: frames in, to every consumer
    feeds.py     publications (origin) and relayed feeds (edge), subscriptions
    relay.py     the relay: publish, subscribe, end
    thread.py    a relay on its own thread (tools, tests)
"""

from live.media.relay.feeds import Feed, Publication, RelayedFeed, Subscription
from live.media.relay.output import Output
from live.media.relay.relay import MediaError, Relay
from live.media.relay.source import Source, Tap
from live.media.relay.thread import RelayThread
from live.media.relay.throttle import KeyframeThrottle

__all__ = ["Feed", "KeyframeThrottle", "MediaError", "Output", "Publication", "Relay", "RelayThread",
           "RelayedFeed", "Source", "Subscription", "Tap"]
