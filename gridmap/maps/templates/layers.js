{#- The layer switcher over the map's base layers and overlays, as folium's LayerControl writes it;
    layer names are HTML (built from escaped parts). #}
            var {{ name }}_layers = {
                base_layers : {
                    {%- for key, val in base_layers.items() %}
                    {{ key|tojson }} : {{ val }},
                    {%- endfor %}
                },
                overlays :  {
                    {%- for key, val in overlays.items() %}
                    {{ key|tojson }} : {{ val }},
                    {%- endfor %}
                },
            };
            let {{ name }} = L.control.layers(
                {{ name }}_layers.base_layers,
                {{ name }}_layers.overlays,
                {{ options|tojson }}
            ).addTo({{ map_name }});
