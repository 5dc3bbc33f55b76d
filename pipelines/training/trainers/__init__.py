"""Built-in trainers; each module registers itself with ``@register``."""
