"""Stage 4, render: templating (Jinja -> layout XML), layout (-> flowables), pdf (pages), one-document pipeline."""
